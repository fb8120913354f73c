"""Whom a gate trusts for Sigstore-signed (keyless) provenance: an identity, its OIDC issuer, and a trust root.

    [tool.shipyard.environments.production]
    require = ["signed", "clean-tree", "branch:main", "builder:github-actions"]
    sigstore = { identity = "https://github.com/acme/app/.github/workflows/deploy.yml@refs/heads/main" }
    # or any tag: identity = "https://github.com/acme/app/.github/workflows/deploy.yml@refs/tags/v*"
    # issuer = "https://token.actions.githubusercontent.com" (the default), trusted_root = "ci/trusted_root.json"
    # (default: the Sigstore public-good root embedded in sigstore-python: verified offline, no TUF fetch)

Validated when the configuration loads, with one-line errors naming the key; this module imports nothing heavy
(the trust root file is read as JSON here, and parsed by sigstore only when a bundle is verified).
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

from shipyard._errors import ConfigError
from shipyard._pyproject import Field, validate_table

__all__ = ["GITHUB_ISSUER", "SigstorePolicy", "parse_sigstore", "sigstore_available"]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
TRUSTED_ROOT_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
_FIELDS = {
    "identity": Field(str, required=True, help="the signer's certificate identity, e.g. a workflow URL @ a ref"),
    "issuer": Field(str, default=GITHUB_ISSUER),
    "trusted_root": Field(str, default="", help="a Sigstore trusted_root.json (default: the public-good root)"),
}
_WORKFLOW = re.compile(r"https://github\.com/[^/\s]+/[^/\s]+/\.github/workflows/[^/@\s]+\.ya?ml@refs/[^\s]+")
#: A trust root larger than this is not one (the public-good root is ~10 KiB).
_MAX_ROOT = 4 * 1024 * 1024


@dataclass(frozen=True)
class SigstorePolicy:
    """Accept a Sigstore bundle whose certificate names ``identity``, issued for ``issuer``, under the trust root."""

    identity: str
    issuer: str = GITHUB_ISSUER
    trusted_root: Path | None = None  # None: sigstore-python's embedded public-good root
    file: str = ""
    key: str = ""

    def describe(self) -> str:
        return f"{self.identity} (issuer {self.issuer})"


def sigstore_available() -> bool:
    return importlib.util.find_spec("sigstore") is not None


def parse_sigstore(value: object, *, root: Path, file: str, key: str) -> SigstorePolicy | None:
    """The ``sigstore`` table of an environment, checked (``None`` when it has none)."""
    if value is None:
        return None
    values = validate_table(value, _FIELDS, file=file, key=key)
    identity, issuer = values["identity"], values["issuer"]
    for name, item in (("identity", identity), ("issuer", issuer)):
        if not item or item.strip() != item:
            raise ConfigError("must be non-empty, without surrounding spaces", file=file, key=f"{key}.{name}")
        if item.endswith("/"):
            # Certificates name identities exactly; a trailing slash matches nothing Fulcio issues.
            message = f"{item!r} ends with '/'; drop it (identities match exactly)"
            raise ConfigError(message, file=file, key=f"{key}.{name}")
    if not issuer.startswith("https://"):
        raise ConfigError(f"{issuer!r} is not an https:// OIDC issuer URL", file=file, key=f"{key}.issuer")
    if "://" not in identity and "@" not in identity:
        raise ConfigError(
            f"{identity!r} is neither a URI nor an email address; name the signer's certificate identity",
            file=file,
            key=f"{key}.identity",
        )
    if "*" in identity and (
        issuer != GITHUB_ISSUER
        or identity.count("*") > 1
        or not identity.endswith("*")
        or not re.search(r"@refs/(heads|tags)/", identity)
    ):
        raise ConfigError(
            f"{identity!r}: a '*' may only end a GitHub workflow identity's branch or tag (...deploy.yml@refs/tags/v*)",
            file=file,
            key=f"{key}.identity",
        )
    if issuer == GITHUB_ISSUER and not _WORKFLOW.fullmatch(identity):
        raise ConfigError(
            f"{identity!r} is not a GitHub Actions identity; use "
            "https://github.com/OWNER/REPO/.github/workflows/FILE.yml@refs/heads/BRANCH",
            file=file,
            key=f"{key}.identity",
        )
    if not sigstore_available():
        raise ConfigError(
            "verifying Sigstore bundles needs sigstore-python; install shipyard[sigstore]", file=file, key=key
        )
    trusted_root = root / values["trusted_root"] if values["trusted_root"] else None
    if trusted_root is not None:
        check_trusted_root(trusted_root, file=file, key=f"{key}.trusted_root")
    return SigstorePolicy(identity=identity, issuer=issuer, trusted_root=trusted_root, file=file, key=key)


def check_trusted_root(path: Path, *, file: str, key: str) -> None:
    """A readable Sigstore TrustedRoot JSON with a CA and a transparency log (its keys are parsed when used)."""
    try:
        if path.stat().st_size > _MAX_ROOT:
            raise ConfigError(f"{path} is too large to be a trusted root (> 4 MiB)", file=file, key=key)
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror}); fix the path", file=file, key=key) from exc
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path} is not JSON ({type(exc).__name__}); use a Sigstore trusted_root.json", file=file,
                          key=key) from exc  # fmt: skip
    kind = data.get("mediaType") if isinstance(data, dict) else None
    if kind != TRUSTED_ROOT_TYPE:
        raise ConfigError(f"{path} is not a Sigstore trusted root (mediaType {kind!r})", file=file, key=key)
    for part in ("certificateAuthorities", "tlogs"):
        if not isinstance(data.get(part), list) or not data[part]:
            raise ConfigError(f"{path} has no {part}; a verifier needs both a CA and a log", file=file, key=key)
