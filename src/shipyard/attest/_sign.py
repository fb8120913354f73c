"""DSSE envelopes (https://github.com/secure-systems-lab/dsse) signed and verified with securesystemslib.

The key is a PEM private key (Ed25519, ECDSA P-256/P-384 or RSA); the signature covers DSSE's pre-authentication
encoding of the payload and its type, and carries the key's id (securesystemslib's default: a hash of the public
key). securesystemslib and cryptography are imported only when something is signed or verified.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard._errors import ConfigError

__all__ = ["IN_TOTO_PAYLOAD", "SignatureInvalid", "keyid_of", "open_envelope", "public_pem_of", "sign_statement"]

IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"


class SignatureInvalid(Exception):
    """An envelope that no trusted key verifies, or that is not a DSSE envelope at all."""


def _signer(private_pem: bytes, *, where: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]  # re-exported, no __all__

    try:
        key = load_pem_private_key(private_pem, password=None)
        return CryptoSigner(key)
    except (ValueError, TypeError) as exc:
        # The message names where the key came from, never any of its bytes.
        message = f"the signing key from {where} is not an unencrypted PEM private key ({type(exc).__name__})"
        raise ConfigError(message) from None


def _public_key(pem: bytes, *, where: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]  # re-exported, no __all__

    try:
        return SSlibKey.from_crypto(load_pem_public_key(pem))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} is not a PEM public key ({exc})") from exc


def keyid_of(public_pem: bytes, *, where: str = "the public key") -> str:
    return str(_public_key(public_pem, where=where).keyid)


def public_pem_of(private_pem: bytes, *, where: str) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

    _signer(private_pem, where=where)  # the one-line error for a bad key
    key = load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def sign_statement(statement: dict[str, Any], private_pem: bytes, *, where: str) -> dict[str, Any]:
    """The DSSE envelope (JSON-ready) of ``statement``, signed with ``private_pem``."""
    from securesystemslib.dsse import Envelope

    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    envelope = Envelope(payload=payload, payload_type=IN_TOTO_PAYLOAD, signatures={})
    envelope.sign(_signer(private_pem, where=where))
    return dict(envelope.to_dict())


def open_envelope(data: bytes, trusted: list[tuple[str, bytes]]) -> tuple[dict[str, Any], str]:
    """The statement inside a DSSE envelope and the id of the trusted key that signed it.

    ``trusted`` holds (name, PEM public key) pairs. Raises ``SignatureInvalid`` naming the signing key ids.
    """
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError

    try:
        envelope = Envelope.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignatureInvalid(f"the attestation is not a DSSE envelope ({type(exc).__name__})") from exc
    if envelope.payload_type != IN_TOTO_PAYLOAD:
        raise SignatureInvalid(f"the envelope's payload type is {envelope.payload_type!r}, not {IN_TOTO_PAYLOAD}")
    signed_by = ", ".join(sorted(envelope.signatures)) or "nobody"
    if not envelope.signatures:
        raise SignatureInvalid("the envelope carries no signature")
    keys = [_public_key(pem, where=name) for name, pem in trusted]
    if not keys:
        raise SignatureInvalid("no trusted public key is configured; set [tool.shipyard.signing] public-key")
    try:
        accepted = envelope.verify(keys, 1)
    except VerificationError as exc:
        trusted_ids = ", ".join(k.keyid[:16] for k in keys)
        raise SignatureInvalid(
            f"no trusted key verifies the signature (signed by key {signed_by[:16]}, trusted: {trusted_ids})"
        ) from exc
    try:
        statement = json.loads(envelope.payload)
    except ValueError as exc:
        raise SignatureInvalid("the signed payload is not JSON") from exc
    if not isinstance(statement, dict):
        raise SignatureInvalid("the signed payload is not an in-toto statement")
    return statement, next(iter(accepted))
