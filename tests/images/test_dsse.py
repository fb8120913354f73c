"""DSSE envelopes: standard (securesystemslib, in-toto's library, verifies them), every supported key type, and
each way an envelope can be wrong refused with its reason. No engine or registry needed."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from shipyard._errors import ConfigError
from shipyard.attest._sign import SignatureInvalid, keyid_of, open_envelope, sign_statement

STATEMENT = {"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "x", "predicate": {}}


def _pair(kind: str) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    key: Any = {
        "ed25519": ed25519.Ed25519PrivateKey.generate,
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }[kind]()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return private, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("kind", ["ed25519", "p256", "p384", "rsa"])
def test_an_envelope_verifies_here_and_with_securesystemslib(kind: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    private, public = _pair(kind)
    envelope = sign_statement(STATEMENT, private, where="test")

    statement, keyid = open_envelope(json.dumps(envelope).encode(), [("trusted", public)])
    assert statement == STATEMENT
    assert keyid == keyid_of(public) == envelope["signatures"][0]["keyid"]
    # The same bytes are a DSSE envelope in the reference implementation's eyes.
    theirs = Envelope.from_dict(json.loads(json.dumps(envelope)))
    key = SSlibKey.from_crypto(load_pem_public_key(public), keyid=keyid)
    assert list(theirs.verify([key], 1)) == [keyid]


def test_a_changed_payload_or_another_key_is_refused() -> None:
    private, public = _pair("ed25519")
    _, other_public = _pair("ed25519")
    envelope = sign_statement(STATEMENT, private, where="test")
    with pytest.raises(SignatureInvalid, match="no trusted key verifies the signature"):
        open_envelope(json.dumps(envelope).encode(), [("other", other_public)])
    forged = {**STATEMENT, "predicate": {"forged": True}}
    envelope["payload"] = base64.b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(SignatureInvalid, match="no trusted key verifies"):
        open_envelope(json.dumps(envelope).encode(), [("trusted", public)])


def test_no_signature_wrong_type_and_garbage_are_refused() -> None:
    private, public = _pair("ed25519")
    envelope = sign_statement(STATEMENT, private, where="test")
    with pytest.raises(SignatureInvalid, match="carries no signature"):
        open_envelope(json.dumps({**envelope, "signatures": []}).encode(), [("trusted", public)])
    with pytest.raises(SignatureInvalid, match="payload type"):
        open_envelope(json.dumps({**envelope, "payloadType": "text/plain"}).encode(), [("trusted", public)])
    with pytest.raises(SignatureInvalid, match="not a DSSE envelope"):
        open_envelope(b"not json", [("trusted", public)])


def test_a_bad_signing_key_is_one_line_without_its_bytes(tmp_path: Path) -> None:
    junk = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ConfigError) as caught:
        sign_statement(STATEMENT, junk, where="$SHIPYARD_SIGNING_KEY")
    message = str(caught.value)
    assert "$SHIPYARD_SIGNING_KEY is not an unencrypted PEM private key" in message
    assert "c2VjcmV0" not in message
    assert caught.value.__cause__ is None
