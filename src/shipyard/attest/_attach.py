"""After a push: complete the build's provenance with the pushed digest, sign it, and store it beside the image.

One artifact per push: an OCI manifest whose subject is the image, holding the DSSE envelope (key-signed), or a
Sigstore bundle holding it (``method = "sigstore"``), or, without a signing key, the bare statement; and the
CycloneDX SBOM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard._errors import ImageError
from shipyard._logging import get_logger
from shipyard.attest._config import load_signing
from shipyard.attest._oci import EMPTY_CONFIG, OCI_MANIFEST, Registry, RegistryError, tag_for
from shipyard.attest._provenance import load_record, statement_for

__all__ = ["ARTIFACT_TYPE", "DSSE", "SBOM", "STATEMENT", "Attached", "attach"]

#: The artifact type of the manifest (an in-toto attestation bundle) and the media types of its layers.
ARTIFACT_TYPE = "application/vnd.in-toto+json"
DSSE = "application/vnd.dsse.envelope.v1+json"
STATEMENT = "application/vnd.in-toto+json"
SBOM = "application/vnd.cyclonedx+json"


@dataclass(frozen=True)
class Attached:
    """Where the attestations went: the artifact manifest's digest, how it is found, and whether it is signed."""

    digest: str
    storage: str  # "referrers" or "tag:<tag>"
    signed: bool
    keyid: str = ""
    #: How it was (or would have been) signed: ``key`` or ``sigstore``.
    method: str = "key"


def attach(
    record_dir: Path,
    *,
    registry: str,
    name: str,
    digest: str,
    auth: dict[str, str],
    keyless: Callable[[bytes], bytes | None] | None = None,
) -> Attached:
    """Sign and store the attestations of ``registry/name@digest`` from the build record in ``record_dir``.

    ``keyless`` turns the statement's bytes into a Sigstore bundle (default: ``sign_keyless``, Fulcio + Rekor);
    it is used when ``[tool.shipyard.signing] method = "sigstore"``, or whenever it is given (tests pass an offline
    ``shipyard.testing.SigstoreInstance``'s).
    """
    from shipyard.attest._sign import keyid_of, public_pem_of, sign_statement

    record = load_record(record_dir)
    signing = load_signing(record.root)
    statement = statement_for(record, name=f"{registry}/{name}", digest=digest, sbom_media_type=SBOM)
    sigstore = keyless is not None or signing.method == "sigstore"
    private = None if sigstore else signing.private_pem()
    keyid = ""
    bundle = None
    if sigstore:
        from shipyard.attest._sigstore import sign_keyless

        # The same bytes the key path signs; the bundle holds the DSSE envelope, the certificate and the log proof.
        payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        bundle = keyless(payload) if keyless else sign_keyless(payload, trust_config=signing.trust_config)
    if bundle is not None:
        from shipyard.attest._sigstore import BUNDLE

        layer, media_type, keyid = bundle, BUNDLE, "sigstore"
    elif private is not None:
        where = (
            f"${signing.key_env}" if signing.key_file is None or _env_set(signing.key_env) else str(signing.key_file)
        )
        envelope = sign_statement(statement, private, where=where)
        keyid = keyid_of(public_pem_of(private, where=where))
        layer, media_type = json.dumps(envelope, sort_keys=True).encode(), DSSE
    else:
        layer, media_type = json.dumps(statement, sort_keys=True).encode(), STATEMENT
    repo = Registry(registry, name, auth)
    try:
        subject = repo.manifest_descriptor(digest)
        if subject is None:
            raise ImageError(f"registry {registry} has no manifest {name}@{digest} to attest")
        repo.push_blob(b"{}")
        attestation = {**repo.push_blob(layer), "mediaType": media_type,
                       "annotations": {"in-toto.io/predicate-type": statement["predicateType"]}}  # fmt: skip
        sbom = {**repo.push_blob(record.sbom), "mediaType": SBOM}
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {**EMPTY_CONFIG, "data": "e30="},
            "layers": [attestation, sbom],
            "subject": subject,
            "annotations": {
                "org.opencontainers.image.created": statement["predicate"]["runDetails"]["metadata"]["finishedOn"]
            },
        }
        manifest_digest, indexed = repo.put_manifest(manifest)
        storage = "referrers"
        if not indexed:  # no referrers API: the tag schema, so that a verifier finds it
            tag = tag_for(digest)
            repo.put_manifest(manifest, tag)
            storage = f"tag:{tag}"
    except RegistryError as exc:
        raise ImageError(f"storing the attestations of {registry}/{name}@{digest} failed: {exc}") from exc
    get_logger("images").info("image.attest.done", image=f"{registry}/{name}@{digest}", attestation=manifest_digest,
                              storage=storage, signed=bool(keyid))  # fmt: skip
    method = "sigstore" if sigstore else "key"
    return Attached(digest=manifest_digest, storage=storage, signed=bool(keyid), keyid=keyid, method=method)


def _env_set(name: str) -> bool:
    import os

    return bool(os.environ.get(name, "").strip())
