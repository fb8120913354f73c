"""An offline Sigstore instance for tests: a Fulcio-like CA, a CT log and a Rekor log, every key made in memory.

    instance = SigstoreInstance()
    instance.write_trusted_root(tmp_path / "trusted_root.json")
    bundle = instance.sign_dsse(statement_bytes, identity="https://github.com/acme/app/.github/workflows/d.yml@refs/heads/main")

``sign_dsse`` returns what a keyless signing under GitHub Actions stores: a Sigstore bundle (v0.3 JSON) holding a
DSSE envelope over the statement, a short-lived leaf certificate for ``identity`` (issuer extension included) with
an embedded SCT signed by the CT log key, and a Rekor v1 ``dsse`` entry with a signed inclusion promise and a
signed checkpoint over a one-leaf tree. sigstore-python's real ``Verifier`` accepts it offline against
``trusted_root_json``; nothing of the verification is replaced. Needs the ``sigstore`` extra (rfc8785 comes with
it). ``serve(workflow_ref)`` answers Fulcio's, Rekor's and GitHub's OIDC token endpoints on 127.0.0.1 so that
sigstore-python's own signing path (``SigningContext``, ``Signer.sign_dsse``) runs against it. For tests only:
the keys are thrown away with the instance, and the services check nothing a real Fulcio would (the token is
unsigned).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["GITHUB_ISSUER", "SigstoreInstance", "SigstoreServices"]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
IN_TOTO = "application/vnd.in-toto+json"
_TRUSTED_ROOT = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"  # Fulcio's OIDC issuer extension (raw string)
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"  # the same, DER UTF8String
_SOURCE_REPOSITORY = "1.3.6.1.4.1.57264.1.12"  # the repository whose workflow run asked (DER UTF8String)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return bytes(key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


class SigstoreInstance:
    """A CA, a CT log and a transparency log of their own; ``trusted_root_json`` is what a verifier trusts."""

    def __init__(self, *, name: str = "shipyard-test", now: dt.datetime | None = None) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.name = name
        self.now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self._ct_key = ec.generate_private_key(ec.SECP256R1())
        self._log_key = ec.generate_private_key(ec.SECP256R1())
        self._ca_name = x509.Name(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name), x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")]
        )
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(self._ca_name)
            .issuer_name(self._ca_name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - dt.timedelta(days=1))
            .not_valid_after(self.now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key()), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        self.log_id = hashlib.sha256(_spki(self._log_key)).digest()

    # -- the trust root

    @property
    def trusted_root_json(self) -> str:
        """The ``trusted_root.json`` (Sigstore's TrustedRoot v0.1) naming this instance's CA, CT log and Rekor log."""
        from cryptography.hazmat.primitives.serialization import Encoding

        start = (self.now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

        def log(key: Any, url: str) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "logId": {"keyId": _b64(hashlib.sha256(_spki(key)).digest())},
                "publicKey": {
                    "rawBytes": _b64(_spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
            }

        root = {
            "mediaType": _TRUSTED_ROOT,
            "tlogs": [log(self._log_key, f"https://rekor.{self.name}.invalid")],
            "ctlogs": [log(self._ct_key, f"https://ctfe.{self.name}.invalid")],
            "certificateAuthorities": [
                {
                    "subject": {"organization": self.name, "commonName": f"{self.name} CA"},
                    "uri": f"https://fulcio.{self.name}.invalid",
                    "certChain": {"certificates": [{"rawBytes": _b64(self.ca.public_bytes(Encoding.DER))}]},
                    "validFor": {"start": start},
                }
            ],
            "timestampAuthorities": [],
        }
        return json.dumps(root, indent=2)

    def write_trusted_root(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.trusted_root_json)
        return path

    # -- signing, as Fulcio + Rekor would for a keyless signer

    def _leaf(
        self,
        key: Any,
        identity: str,
        issuer: str,
        *,
        at: dt.datetime | None = None,
        source_repository: str | None = None,
    ) -> Any:
        """A Fulcio-style 10-minute code-signing certificate for ``identity``, with an SCT from the CT log.

        For a GitHub workflow identity it carries, as Fulcio's, the Source Repository URI of the run
        (``source_repository``; default: the identity's own repository, i.e. not a reusable workflow call).
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

        at = at or self.now
        san = x509.UniformResourceIdentifier(identity) if "://" in identity else x509.RFC822Name(identity)
        utf8 = issuer.encode()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self._ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(at - dt.timedelta(minutes=1))
            .not_valid_after(at + dt.timedelta(minutes=10))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()), False)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(_ISSUER_V1), utf8), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(_ISSUER_V2), b"\x0c" + _der_length(len(utf8)) + utf8),
                critical=False,
            )
        )
        if source_repository is None and identity.startswith("https://github.com/") and "/.github/" in identity:
            source_repository = identity.partition("/.github/")[0]
        if source_repository:
            value = source_repository.encode()
            der = b"\x0c" + _der_length(len(value)) + value
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(_SOURCE_REPOSITORY), der), critical=False
            )
        # RFC 6962 3.2: the CT log signs the precertificate's TBS (no SCT extension) and the issuer's key hash.
        tbs = builder.sign(self._ca_key, hashes.SHA256()).tbs_certificate_bytes
        millis = int(at.timestamp() * 1000)
        signed = (
            struct.pack("!BBQH", 0, 0, millis, 1)  # v1, certificate_timestamp, timestamp, precert_entry
            + hashlib.sha256(_spki(self._ca_key)).digest()
            + len(tbs).to_bytes(3, "big")
            + tbs
            + b"\x00\x00"  # no CT extensions
        )
        signature = self._ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00"
            + hashlib.sha256(_spki(self._ct_key)).digest()
            + struct.pack("!QH", millis, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # SHA-256, ECDSA
            + signature
        )
        sct_list = struct.pack("!HH", len(sct) + 2, len(sct)) + sct
        octets = b"\x04" + _der_length(len(sct_list)) + sct_list
        return builder.add_extension(
            x509.UnrecognizedExtension(ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, octets), critical=False
        ).sign(self._ca_key, hashes.SHA256())

    def signer(self, identity: str, issuer: str = GITHUB_ISSUER) -> Callable[[bytes], bytes]:
        """A keyless signer for ``shipyard.attest.attach(..., keyless=...)``: signs as ``identity``."""
        return lambda payload: self.sign_dsse(payload, identity=identity, issuer=issuer)

    def sign_dsse(
        self,
        payload: bytes,
        *,
        identity: str,
        issuer: str = GITHUB_ISSUER,
        payload_type: str = IN_TOTO,
        source_repository: str | None = None,
    ) -> bytes:
        """A Sigstore bundle (JSON bytes) of a DSSE envelope over ``payload``, signed as ``identity``.

        ``source_repository``: the repository whose run signed (default: the identity's); another one is what a
        reusable workflow called from another repository gets."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding

        key = ec.generate_private_key(ec.SECP256R1())  # ephemeral, as a keyless signer's
        cert = self._leaf(key, identity, issuer, source_repository=source_repository)
        kind = payload_type.encode()
        pae = b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)
        signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))
        envelope = {"payload": _b64(payload), "payloadType": payload_type, "signatures": [{"sig": _b64(signature)}]}
        entry = self._log_dsse(envelope, cert.public_bytes(Encoding.PEM), self.now)
        bundle = {
            "mediaType": _BUNDLE,
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(cert.public_bytes(Encoding.DER))},
                "tlogEntries": [
                    {
                        "logIndex": str(entry["logIndex"]),
                        "logId": {"keyId": _b64(self.log_id)},
                        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                        "integratedTime": str(entry["integratedTime"]),
                        "inclusionPromise": {"signedEntryTimestamp": entry["verification"]["signedEntryTimestamp"]},
                        "inclusionProof": {
                            "logIndex": str(entry["logIndex"]),
                            "rootHash": _b64(bytes.fromhex(entry["verification"]["inclusionProof"]["rootHash"])),
                            "treeSize": "1",
                            "hashes": [],
                            "checkpoint": {"envelope": entry["verification"]["inclusionProof"]["checkpoint"]},
                        },
                        "canonicalizedBody": entry["body"],
                    }
                ],
            },
            "dsseEnvelope": envelope,
        }
        return json.dumps(bundle).encode()

    def _log_dsse(self, envelope: dict[str, Any], verifier_pem: bytes, at: dt.datetime) -> dict[str, Any]:
        """What Rekor v1 answers for a ``dsse`` entry (its API's JSON): the canonical body, SET and checkpoint."""
        import rfc8785
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        payload = base64.b64decode(envelope["payload"])
        body: dict[str, Any] = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": _sha256_hex(json.dumps(envelope).encode())},
                "payloadHash": {"algorithm": "sha256", "value": _sha256_hex(payload)},
                "signatures": [{"signature": s["sig"], "verifier": _b64(verifier_pem)} for s in envelope["signatures"]],
            },
        }
        canonical = rfc8785.dumps(body)
        index = 0  # every entry its own one-leaf tree: its root is the leaf hash, the proof has no hashes
        integrated = int(at.timestamp())
        leaf = hashlib.sha256(b"\x00" + canonical).digest()
        origin = f"rekor.{self.name}.invalid - {int.from_bytes(self.log_id[:8], 'big')}"
        note = f"{origin}\n1\n{_b64(leaf)}\n"
        checkpoint_sig = self._log_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = f"{note}\n\u2014 {origin.partition(' ')[0]} {_b64(self.log_id[:4] + checkpoint_sig)}\n"
        promise = rfc8785.dumps(
            {"body": _b64(canonical), "integratedTime": integrated, "logID": self.log_id.hex(), "logIndex": index}
        )
        return {
            "body": _b64(canonical),
            "integratedTime": integrated,
            "logID": self.log_id.hex(),
            "logIndex": index,
            "verification": {
                "signedEntryTimestamp": _b64(self._log_key.sign(promise, ec.ECDSA(hashes.SHA256()))),
                "inclusionProof": {
                    "checkpoint": checkpoint,
                    "hashes": [],
                    "logIndex": index,
                    "rootHash": leaf.hex(),
                    "treeSize": 1,
                },
            },
        }

    # -- the services, on 127.0.0.1, for a keyless signer (sigstore-python's own SigningContext)

    def token(self, workflow_ref: str, *, issuer: str = GITHUB_ISSUER, lifetime: int = 300) -> str:
        """A GitHub-Actions-shaped OIDC token (unsigned: Fulcio, here, is this instance) for ``OWNER/REPO/...@ref``."""
        now = int(dt.datetime.now(dt.UTC).timestamp())
        repository = "/".join(workflow_ref.split("/")[:2])
        claims = {
            "iss": issuer,
            "aud": "sigstore",
            "sub": f"repo:{repository}:ref:{workflow_ref.partition('@')[2]}",
            "job_workflow_ref": workflow_ref,
            "repository": repository,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }

        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."

    @contextlib.contextmanager
    def serve(self, workflow_ref: str) -> Iterator[SigstoreServices]:
        """Fulcio (``/api/v2/signingCert``), Rekor (``/api/v1/log/entries``) and GitHub's OIDC token endpoint on a
        free loopback port; the token names ``workflow_ref`` (``OWNER/REPO/.github/workflows/F.yml@refs/...``)."""
        import http.server
        import threading

        instance = self
        issued: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.startswith("/oidc/token"):
                    issued.append(instance.token(workflow_ref))
                    self._answer(200, {"value": issued[-1]})
                else:
                    self._answer(404, {"message": "not found"})

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                try:
                    if self.path == "/api/v2/signingCert":
                        self._answer(200, instance._certify(request, self.headers.get("Authorization", "")))
                    elif self.path == "/api/v1/log/entries":
                        self._answer(201, instance._enter(request))
                    else:
                        self._answer(404, {"message": "not found"})
                except (KeyError, ValueError, TypeError) as exc:
                    self._answer(400, {"message": f"bad request: {type(exc).__name__}: {exc}"})

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield SigstoreServices(self, f"http://127.0.0.1:{server.server_address[1]}", issued)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def _certify(self, request: dict[str, Any], authorization: str) -> dict[str, Any]:
        """Fulcio: a certificate for the CSR's key, naming the token's workflow (as Fulcio does for GitHub)."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        token = authorization.removeprefix("Bearer ").strip() or request["credentials"]["oidcIdentityToken"]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        csr = x509.load_pem_x509_csr(base64.b64decode(request["certificateSigningRequest"]))
        if not csr.is_signature_valid:
            raise ValueError("the CSR's signature does not verify")
        identity = f"https://github.com/{claims['job_workflow_ref']}"

        class _Public:  # _leaf takes a private key for its public half
            def __init__(self, key: Any) -> None:
                self._key = key

            def public_key(self) -> Any:
                return self._key

        source = f"https://github.com/{claims['repository']}" if claims.get("repository") else None
        cert = self._leaf(
            _Public(csr.public_key()), identity, claims["iss"], at=dt.datetime.now(dt.UTC), source_repository=source
        )
        chain = [cert.public_bytes(Encoding.PEM).decode(), self.ca.public_bytes(Encoding.PEM).decode()]
        return {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}

    def _enter(self, request: dict[str, Any]) -> dict[str, Any]:
        """Rekor v1: log a proposed ``dsse`` entry; the answer is keyed by the entry's UUID."""
        content = request["spec"]["proposedContent"]
        envelope = json.loads(content["envelope"])
        verifier_pem = base64.b64decode(content["verifiers"][0])
        entry = self._log_dsse(envelope, verifier_pem, dt.datetime.now(dt.UTC))
        return {_sha256_hex(base64.b64decode(entry["body"])): entry}


@dataclass(frozen=True)
class SigstoreServices:
    """``SigstoreInstance.serve``'s services: where they listen, and the client configuration that names them."""

    instance: SigstoreInstance
    url: str
    #: The OIDC tokens the token endpoint handed out (secrets: a test checks that none is printed or stored).
    issued: list[str] = field(default_factory=list)

    @property
    def oidc_env(self) -> dict[str, str]:
        """The variables GitHub Actions sets for a job with ``id-token: write`` (sigstore's ambient detection)."""
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/oidc/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "test-request-token",
        }

    @property
    def client_trust_config_json(self) -> str:
        """A Sigstore ClientTrustConfig: the instance's trust root, and a signing config naming these services."""
        start = (self.instance.now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

        def service(major: int) -> dict[str, Any]:
            return {"url": self.url, "majorApiVersion": major, "validFor": {"start": start}, "operator": "test"}

        signing = {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service(1)],
            "oidcUrls": [service(1)],
            "rekorTlogUrls": [service(1)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        }
        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                "trustedRoot": json.loads(self.instance.trusted_root_json),
                "signingConfig": signing,
            },
            indent=2,
        )
