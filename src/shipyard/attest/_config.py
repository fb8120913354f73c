"""``[tool.shipyard.signing]``: which key signs provenance, and which public keys a verifier trusts.

    [tool.shipyard.signing]
    key-env = "SHIPYARD_SIGNING_KEY"        # an environment variable holding a PEM private key (CI secret)
    key = ".shipyard/signing/key.pem"       # or a PEM file (development); the variable wins when both are set
    public-key = "ci/signing/key.pub"       # the trust root for `image.verify` and the deploy gate (str or list)
    method = "sigstore"                     # or keyless: Sigstore under GitHub Actions (default "key")
    trust-config = "ci/sigstore/client.json"  # keyless with a private Sigstore instance (default: public good)

The private key is read only when signing and is never printed or stored. Mistakes are one-line ``ConfigError`` s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard._errors import ConfigError
from shipyard._pyproject import PYPROJECT, Field, load, validate_table

__all__ = ["DEFAULT_KEY_ENV", "SigningConfig", "load_signing", "signing_from"]

TABLE = "tool.shipyard.signing"
DEFAULT_KEY_ENV = "SHIPYARD_SIGNING_KEY"

_FIELDS = {
    "key": Field(str, default=""),
    "key-env": Field(str, default=DEFAULT_KEY_ENV),
    "public-key": Field((str, list), default=[]),
    "method": Field(str, default="key", help='"key" (a PEM key) or "sigstore" (keyless under GitHub Actions)'),
    "trust-config": Field(str, default="", help="a Sigstore ClientTrustConfig JSON (default: the public-good one)"),
}
METHODS = ("key", "sigstore")


@dataclass(frozen=True)
class SigningConfig:
    """Where the signing key comes from and which public keys (PEM files) are trusted."""

    root: Path
    key_env: str = DEFAULT_KEY_ENV
    key_file: Path | None = None
    public_keys: tuple[Path, ...] = ()
    file: str = PYPROJECT
    #: ``key``: sign with the PEM key; ``sigstore``: keyless, with the CI job's OIDC identity (``_sigstore``).
    method: str = "key"
    #: Keyless signing against a private Sigstore instance: its ClientTrustConfig (None: the public-good one).
    trust_config: Path | None = None

    def private_pem(self) -> bytes | None:
        """The signing key's PEM: the environment variable first, then the key file; ``None`` when neither is set."""
        if value := os.environ.get(self.key_env, "").strip():
            return _secret(value.encode())
        if self.key_file is not None:
            try:
                mode = self.key_file.stat().st_mode
                data = self.key_file.read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the signing key {self.key_file} ({exc.strerror}); fix the path",
                    file=self.file,
                    key=f"{TABLE}.key",
                ) from exc
            if os.name == "posix" and mode & 0o077:
                # As ssh does: a private key others can read is a key others may have copied.
                raise ConfigError(
                    f"the signing key {self.key_file} is readable by other users; chmod 600 {self.key_file}",
                    file=self.file,
                    key=f"{TABLE}.key",
                )
            return _secret(data)
        return None

    def public_pems(self) -> list[tuple[Path, bytes]]:
        found = []
        for path in self.public_keys:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the public key {path} ({exc.strerror}); fix the path",
                    file=self.file,
                    key=f"{TABLE}.public-key",
                ) from exc
            if b"PRIVATE KEY" in data:
                _secret(data)
                raise ConfigError(
                    f"{path} is a private key; trust its public half (openssl pkey -in {path.name} -pubout)",
                    file=self.file,
                    key=f"{TABLE}.public-key",
                )
            found.append((path, data))
        return found


def load_signing(root: Path) -> SigningConfig:
    """The signing configuration of the project at ``root`` (defaults when it has no ``[tool.shipyard.signing]``)."""
    path = root / PYPROJECT
    return signing_from(load(path), root=root, file=str(path))


def signing_from(data: Mapping[str, Any], *, root: Path, file: str) -> SigningConfig:
    table = data.get("tool", {}).get("shipyard", {}).get("signing", {})
    values = validate_table(table, _FIELDS, file=file, key=TABLE)
    env_name = values["key-env"]
    for name in ("key-env", "key"):
        if "PRIVATE KEY" in values[name]:  # a PEM pasted where its variable's name or its file's path belongs
            _secret(values[name].encode())
            raise ConfigError(
                f"holds a private key itself; name the {'variable' if name == 'key-env' else 'file'} that holds it",
                file=file,
                key=f"{TABLE}.{name}",
            )
    if not env_name or not env_name.replace("_", "").isalnum():
        raise ConfigError(f"{env_name!r} is not an environment variable name", file=file, key=f"{TABLE}.key-env")
    if values["method"] not in METHODS:
        raise ConfigError(
            f'{values["method"]!r} is not a signing method; use "key" or "sigstore"', file=file, key=f"{TABLE}.method"
        )
    if values["trust-config"]:
        if values["method"] != "sigstore":
            raise ConfigError('is for method = "sigstore" only; remove it or set method', file=file,
                              key=f"{TABLE}.trust-config")  # fmt: skip
        if not (root / values["trust-config"]).is_file():
            raise ConfigError(f"{root / values['trust-config']} does not exist; fix the path", file=file,
                              key=f"{TABLE}.trust-config")  # fmt: skip
    publics = values["public-key"]
    publics = [publics] if isinstance(publics, str) else publics
    for item in publics:
        if not isinstance(item, str) or not item:
            raise ConfigError(
                "must be a path or a list of paths to PEM public keys", file=file, key=f"{TABLE}.public-key"
            )
    return SigningConfig(
        root=root,
        key_env=env_name,
        key_file=(root / values["key"]) if values["key"] else None,
        public_keys=tuple(root / item for item in publics),
        file=file,
        method=values["method"],
        trust_config=(root / values["trust-config"]) if values["trust-config"] else None,
    )


def _secret(pem: bytes) -> bytes:
    """Register a private key (whole, and each line of its body) with the redaction of every output channel."""
    from shipyard._secrets import register_secret

    text = pem.decode(errors="replace")
    for value in (text.strip(), *(line.strip() for line in text.splitlines() if len(line.strip()) >= 16)):
        if "-----" not in value or value == text.strip():
            register_secret(value)
    return pem
