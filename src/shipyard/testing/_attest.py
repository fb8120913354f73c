"""A signing key pair for tests and development (never for production: keep that one in a CI secret)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["signing_key_pair"]


def signing_key_pair(directory: Path, name: str = "signing") -> tuple[Path, Path]:
    """Write a new Ed25519 key pair as ``<name>.pem`` (private, mode 600) and ``<name>.pub``; return both paths."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.touch(mode=0o600)
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return private, public
