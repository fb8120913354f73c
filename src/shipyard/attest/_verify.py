"""Fetch an image's attestations from its registry and check them: signature, subject, SBOM, then the facts.

``verify_image`` never raises for a bad attestation: it returns a ``Verification`` whose ``problem`` says, in one
line, why the image is not verified (no attestation, unsigned, another key, another digest, a tampered SBOM).
Registry faults (unreachable, refused) raise ``ImageError``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard._errors import ImageError
from shipyard.attest._attach import ARTIFACT_TYPE, DSSE, SBOM, STATEMENT
from shipyard.attest._oci import Registry, RegistryError, split_reference, tag_for
from shipyard.attest._policy import SigstorePolicy
from shipyard.attest._provenance import GITHUB_RUNNER, LOCAL_BUILDER, PREDICATE_TYPE, STATEMENT_TYPE

__all__ = ["Verification", "verify_image"]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: A Sigstore bundle v0.3 (``shipyard.attest._sigstore.BUNDLE``; named here so that this module stays light).
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@dataclass(frozen=True)
class Verification:
    """What was found for one image. ``verified``: signed by a trusted key, for this digest, SBOM intact."""

    reference: str
    digest: str
    problem: str | None = None
    signed: bool = False
    keyid: str = ""
    #: Who signed: ``key <keyid>`` or ``sigstore <certificate identity>``.
    signer: str = ""
    attestation: str = ""
    storage: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    sbom: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.problem is None and self.signed

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what a deploy's details and history record keep."""
        return {
            "reference": self.reference,
            "verified": self.verified,
            "problem": self.problem,
            "keyid": self.keyid,
            "signer": self.signer,
            "attestation": self.attestation,
            "storage": self.storage,
            **self.facts,
            "sbom_components": len(self.sbom.get("components", [])),
        }


def verify_image(
    reference: str,
    *,
    trusted: list[tuple[str, bytes]],
    auth: dict[str, str] | None = None,
    timeout: float = 10.0,
    sigstore: SigstorePolicy | None = None,
) -> Verification:
    """Verify the attestations of ``reference`` (``registry/repo@sha256:...``) against the ``trusted`` public keys.

    A Sigstore-signed attestation (a bundle) is verified offline against ``sigstore``'s trust root and identity;
    without a ``sigstore`` policy it is refused. Every later check is the same for both kinds of signature.

    ``timeout`` bounds each registry request; retries of a faulty registry stop after twice that (a deploy gate
    must not wait minutes on a registry that hangs).
    """
    host, name, digest = split_reference(reference)
    repo = Registry(host, name, dict(auth or {}), timeout=timeout, retry_timeout=2 * timeout)
    refused: Verification | None = None
    # Newest first; the first that verifies wins, so a stray or forged artifact beside a good one changes nothing.
    for manifest, manifest_digest, storage in _candidates(repo, digest):
        state: dict[str, Any] = {"attestation": manifest_digest, "storage": storage}
        try:
            try:
                _check(repo, digest, manifest, trusted, state, sigstore=sigstore)
            except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as exc:
                raise _Problem(f"the attestation is malformed ({type(exc).__name__})") from exc
        except _Problem as failed:
            refused = refused or Verification(reference, digest, problem=str(failed), **state)
            continue
        return Verification(reference, digest, **state)
    if refused is None and repo.manifest_descriptor(digest) is None:
        raise ImageError(f"registry {host} has no image {name}@{digest}")
    missing = f"no attestation is stored for {digest[:19]}; push it with Shipyard (`invoke image.push`)"
    return refused or Verification(reference, digest, problem=missing)


class _Problem(Exception):
    """Why an image is not verified (one line)."""


def _check(
    repo: Registry,
    digest: str,
    manifest: dict[str, Any],
    trusted: list[tuple[str, bytes]],
    state: dict[str, Any],
    *,
    sigstore: SigstorePolicy | None = None,
) -> None:
    """Fill ``state`` with what checks out, in order; raise ``_Problem`` at the first thing that does not."""

    subject = manifest.get("subject")
    if not isinstance(subject, dict) or subject.get("digest") != digest:
        raise _Problem("the attestation manifest's subject is another image")
    listed = manifest.get("layers")
    if not isinstance(listed, list):
        raise _Problem("the attestation manifest lists no layers")
    layers: dict[str, str] = {}
    for layer in listed:
        if isinstance(layer, dict) and isinstance(layer.get("mediaType"), str):
            if not isinstance(layer.get("digest"), str) or not _DIGEST.match(layer["digest"]):
                raise _Problem(f"the attestation manifest's {layer['mediaType'][:60]} layer has no sha256 digest")
            layers[layer["mediaType"]] = layer["digest"]
    statement = _open(repo, layers, trusted, state, sigstore)
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise _Problem("the signed statement is not SLSA provenance v1")
    listed_subjects = statement.get("subject")
    subjects = [
        s["digest"].get("sha256")
        for s in (listed_subjects if isinstance(listed_subjects, list) else [])
        if isinstance(s, dict) and isinstance(s.get("digest"), dict)
    ]
    if digest.removeprefix("sha256:") not in subjects:
        other = ", ".join(f"sha256:{str(s)[:12]}" for s in subjects if s) or "nothing"
        raise _Problem(f"the signed provenance is for {other}, not {digest[:19]}")
    predicate = statement.get("predicate") or {}
    state["facts"] = _facts(predicate)
    expected = [b for b in predicate.get("runDetails", {}).get("byproducts", []) if b.get("mediaType") == SBOM]
    if SBOM not in layers or not expected:
        raise _Problem("the SBOM is missing")
    data = _blob(repo, layers[SBOM])
    if hashlib.sha256(data).hexdigest() != expected[0].get("digest", {}).get("sha256"):
        raise _Problem("the SBOM's digest differs from the one in the signed provenance (tampered)")
    try:
        state["sbom"] = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _Problem("the SBOM is not JSON") from exc


def _open(
    repo: Registry,
    layers: dict[str, str],
    trusted: list[tuple[str, bytes]],
    state: dict[str, Any],
    sigstore: SigstorePolicy | None,
) -> dict[str, Any]:
    """The signed statement: from the key-signed DSSE envelope, or from the Sigstore bundle that holds one.

    When both are present (a project moving from a key to Sigstore), the first that verifies counts; when neither
    does, the refusal names why each failed."""
    from shipyard.attest._sign import SignatureInvalid, open_envelope

    failed: list[str] = []
    if DSSE in layers:
        try:
            statement, state["keyid"] = open_envelope(_blob(repo, layers[DSSE]), trusted)
        except SignatureInvalid as exc:
            failed.append(str(exc))
        else:
            state["signer"] = f"key {state['keyid'][:16]}"
            state["signed"] = True
            return statement
    if SIGSTORE_BUNDLE in layers:
        from shipyard.attest._sigstore import open_bundle

        try:
            statement, identity = open_bundle(_blob(repo, layers[SIGSTORE_BUNDLE]), sigstore)
        except SignatureInvalid as exc:
            failed.append(f"and the Sigstore bundle: {exc}" if failed else str(exc))
        else:
            state["signer"] = f"sigstore {identity}"
            state["signed"] = True
            return statement
    if failed:
        raise _Problem(f"signature: {'; '.join(failed)}")
    raise _Problem("the provenance is not signed" if STATEMENT in layers else "the attestation holds no provenance")


def _blob(repo: Registry, digest: str) -> bytes:
    """A layer of the attestation; one that is too large to be one is a refusal, not a registry fault."""
    try:
        return repo.blob(digest)
    except RegistryError as exc:
        if exc.status == 413:
            raise _Problem(f"a layer of the attestation is too large ({digest[:19]})") from exc
        raise


def _candidates(repo: Registry, digest: str) -> list[tuple[dict[str, Any], str, str]]:
    """The attestation manifests of ``digest``: the referrers API's, newest first, then the fallback tag's."""
    found: list[tuple[dict[str, Any], str, str]] = []
    listed = repo.referrers(digest, ARTIFACT_TYPE) or []
    created = "org.opencontainers.image.created"
    for entry in sorted(listed, key=lambda m: (m.get("annotations") or {}).get(created, ""), reverse=True):
        if (got := repo.manifest(str(entry.get("digest", "")))) is not None:
            found.append((got[0], got[1], "referrers"))
    tag = tag_for(digest)
    got = repo.manifest(tag)
    if got is not None and got[1] not in {digest for _, digest, _ in found}:
        found.append((got[0], got[1], f"tag:{tag}"))
    return found


def _facts(predicate: dict[str, Any]) -> dict[str, Any]:
    definition = predicate.get("buildDefinition") or {}
    run = predicate.get("runDetails") or {}
    builder_id = str((run.get("builder") or {}).get("id", ""))
    facts: dict[str, Any] = {
        "builder": builder_id,
        "builder_kind": "github-actions"
        if builder_id.startswith(GITHUB_RUNNER)
        else "local"
        if builder_id == LOCAL_BUILDER
        else "unknown",
        "invocation": (run.get("metadata") or {}).get("invocationId", ""),
        "built_at": (run.get("metadata") or {}).get("finishedOn", ""),
        "commit": None,
        "dirty": None,
        "branch": None,
        "ref": None,
    }
    for dep in definition.get("resolvedDependencies", []):
        if not isinstance(dep, dict):
            continue
        digest = dep.get("digest") or {}
        notes = dep.get("annotations") or {}
        if "gitCommit" in digest:
            facts.update(
                commit=digest["gitCommit"],
                dirty=bool(notes.get("dirty")),
                untracked=int(notes.get("untracked") or 0),
                branch=notes.get("branch"),
                ref=notes.get("ref") or (f"refs/heads/{notes['branch']}" if notes.get("branch") else None),
                source=dep.get("uri"),
            )
        elif dep.get("name") == "uv.lock":
            facts["uv_lock"] = digest.get("sha256")
        elif str(dep.get("name", "")).startswith("Dockerfile"):
            facts["dockerfile"] = digest.get("sha256")
        elif notes.get("kind") == "base-image":
            facts.setdefault("base_images", []).append(
                f"{dep.get('name')}@sha256:{digest['sha256']}" if "sha256" in digest else dep.get("name")
            )
    params = definition.get("externalParameters") or {}
    facts["package"] = f"{params.get('package', '?')} {params.get('version', '?')}"
    return facts


def trusted_keys(root: Path, extra: list[Path] | None = None) -> list[tuple[str, bytes]]:
    """The public keys ``[tool.shipyard.signing]`` trusts (plus ``extra``); the signing key's own when none is set."""
    from shipyard.attest._config import load_signing
    from shipyard.attest._sign import public_pem_of

    signing = load_signing(root)
    keys = [(str(path), pem) for path, pem in signing.public_pems()]
    keys += [(str(path), path.read_bytes()) for path in extra or []]
    if not keys and (private := signing.private_pem()) is not None:
        keys.append(
            (f"the signing key's public half (${signing.key_env})", public_pem_of(private, where=signing.key_env))
        )
    return keys
