"""The syntax of image names and references (the grammar of distribution/reference), checked before any work.

Each check returns ``None`` when the text is valid, or the reason it is not, so callers can raise a
``ConfigError`` naming their own file, key or option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Reference", "parse_reference", "registry_problem", "repository_problem"]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"(?::[0-9]{1,5})?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_MAX_NAME = 255


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: ``name`` (with any registry), an optional ``tag`` and ``digest``."""

    name: str
    tag: str = ""
    digest: str = ""


def repository_problem(name: str) -> str | None:
    """Why ``name`` is not a repository path (lowercase components, no registry, tag or digest), or None."""
    if not name:
        return "is empty"
    if len(name) > _MAX_NAME:
        return f"is {len(name)} characters long, at most {_MAX_NAME} are allowed"
    if not _PATH.fullmatch(name):
        return (
            "is not a repository name: use lowercase letters, digits and separators (. _ -) in "
            "'/'-separated components, with no tag or digest"
        )
    return None


def registry_problem(registry: str) -> str | None:
    """Why ``registry`` is not ``host[:port][/namespace]`` (no scheme, ASCII only), or None."""
    if "://" in registry:
        return f"must be host[:port] without a scheme; use {registry.split('://', 1)[1].rstrip('/')!r}"
    if not registry.isascii():
        return "must be ASCII (a host name in punycode, e.g. xn--...), as the registry protocol requires"
    domain, _, path = registry.rstrip("/").partition("/")
    if not _DOMAIN.fullmatch(domain):
        return "must be host[:port], e.g. 127.0.0.1:5000 or registry.example.com"
    port = domain.rpartition(":")[2] if ":" in domain else ""
    if port and not 1 <= int(port) <= 65535:
        return f"port {port} is out of range 1-65535"
    if path and not _PATH.fullmatch(path):
        return "has a namespace that is not a repository path (lowercase components separated by '/')"
    return None


def _surface_problem(ref: str) -> str | None:
    if not ref or any(ch.isspace() for ch in ref):
        return "is not an image reference: it is empty or contains whitespace"
    if "://" in ref:
        return f"has a URL scheme; drop {ref.split('://', 1)[0]}:// (a reference is registry/repository)"
    return None


def parse_reference(ref: str) -> tuple[Reference | None, str | None]:
    """(the parsed reference, None) or (None, why ``ref`` is not an image reference)."""
    if problem := _surface_problem(ref):
        return None, problem
    name, digest = ref, ""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        if not _DIGEST.fullmatch(digest):
            return None, f"has digest {digest!r}; a digest is sha256: followed by 64 lowercase hex digits"
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
        if not _TAG.fullmatch(tag):
            return None, f"has tag {tag!r}; a tag is up to 128 letters, digits, '_', '.' and '-'"
    domain, sep, path = name.partition("/")
    if sep and ("." in domain or ":" in domain or domain == "localhost"):
        if problem := registry_problem(domain):
            return None, f"has registry {domain!r} that {problem}"
    else:
        path = name
    if problem := repository_problem(path):
        return None, f"has repository {path!r} that {problem}"
    return Reference(name=name, tag=tag, digest=digest), None
