"""DSSE envelopes (https://github.com/secure-systems-lab/dsse, v1.0) signed and verified with pyca/cryptography.

A signature covers DSSE's pre-authentication encoding (``PAE``) of the payload and its type. Keys are PEM:
Ed25519, ECDSA P-256/P-384/P-521 (DER signatures, SHA-256/384/512 by curve, as cosign and securesystemslib sign)
or RSA (PSS, SHA-256). ``keyid`` is a hint only (SHA-256 of the DER public key); verification tries every trusted
key against every signature, as the DSSE protocol says. The envelope is the one securesystemslib and in-toto read
(tests/images/test_attest.py checks it with securesystemslib). cryptography is imported only when used.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from shipyard._errors import ConfigError

__all__ = ["IN_TOTO_PAYLOAD", "SignatureInvalid", "keyid_of", "open_envelope", "pae", "public_pem_of", "sign_statement"]

IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"


class SignatureInvalid(Exception):
    """An envelope that no trusted key verifies, or that is not a DSSE envelope at all."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _private_key(private_pem: bytes, *, where: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        # The message names where the key came from, never any of its bytes.
        message = f"the signing key from {where} is not an unencrypted PEM private key ({type(exc).__name__})"
        raise ConfigError(message) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError(f"the signing key from {where} is a {type(key).__name__}; use Ed25519, ECDSA or RSA")
    return key


def _public_key(pem: bytes, *, where: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        return load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} is not a PEM public key ({type(exc).__name__})") from None


def keyid_of(public_pem: bytes, *, where: str = "the public key") -> str:
    """SHA-256 (hex) of the key's DER SubjectPublicKeyInfo: the envelope's key hint."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = _public_key(public_pem, where=where).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem_of(private_pem: bytes, *, where: str) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = _private_key(private_pem, where=where)
    return bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))


def _hash_for(curve: Any) -> Any:
    from cryptography.hazmat.primitives import hashes

    return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}.get(curve.key_size, hashes.SHA256())


def _sign(key: Any, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_hash_for(key.curve)))
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        return key.sign(data, pss, hashes.SHA256())
    return bytes(key.sign(data))


def _verifies(key: Any, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_hash_for(key.curve)))
        elif isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            key.verify(signature, data, pss, hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_statement(statement: dict[str, Any], private_pem: bytes, *, where: str) -> dict[str, Any]:
    """The DSSE envelope (JSON-ready) of ``statement``, signed with ``private_pem``."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = _private_key(private_pem, where=where)
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    signature = _sign(key, pae(IN_TOTO_PAYLOAD, payload))
    return {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": IN_TOTO_PAYLOAD,
        "signatures": [{"keyid": hashlib.sha256(der).hexdigest(), "sig": base64.b64encode(signature).decode()}],
    }


def open_envelope(data: bytes, trusted: list[tuple[str, bytes]]) -> tuple[dict[str, Any], str]:
    """The statement inside a DSSE envelope and the key id of the trusted key that verified it.

    ``trusted`` holds (name, PEM public key) pairs. Raises ``SignatureInvalid`` naming the signing key ids.
    """
    try:
        envelope = json.loads(data)
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = str(envelope["payloadType"])
        signatures = [
            (str(item.get("keyid", "")), base64.b64decode(item["sig"], validate=True))
            for item in envelope["signatures"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise SignatureInvalid(f"the attestation is not a DSSE envelope ({type(exc).__name__})") from exc
    if payload_type != IN_TOTO_PAYLOAD:
        raise SignatureInvalid(f"the envelope's payload type is {payload_type!r}, not {IN_TOTO_PAYLOAD}")
    if not signatures:
        raise SignatureInvalid("the envelope carries no signature")
    if not trusted:
        raise SignatureInvalid("no trusted public key is configured; set [tool.shipyard.signing] public-key")
    signed = pae(payload_type, payload)
    for name, pem in trusted:
        key = _public_key(pem, where=name)
        if any(_verifies(key, signature, signed) for _, signature in signatures):
            break
    else:
        hints = ", ".join(keyid[:16] or "?" for keyid, _ in signatures)
        known = ", ".join(keyid_of(pem, where=name)[:16] for name, pem in trusted)
        raise SignatureInvalid(f"no trusted key verifies the signature (signed by key {hints}; trusted: {known})")
    return statement_of(payload), keyid_of(pem, where=name)


def statement_of(payload: bytes) -> dict[str, Any]:
    """The in-toto statement a verified envelope carries; ``SignatureInvalid`` when it is not one."""
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise SignatureInvalid("the signed payload is not JSON") from exc
    if not isinstance(statement, dict):
        raise SignatureInvalid("the signed payload is not an in-toto statement")
    return statement
