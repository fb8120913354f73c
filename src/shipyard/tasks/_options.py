"""Task options checked before any work: each mistake is one ``ConfigError`` naming the option and the fix.

Numeric options are declared as strings (invoke would otherwise turn ``--limit abc`` into a ``ValueError``
traceback while parsing) and converted here.
"""

from __future__ import annotations

import math

from shipyard._errors import ConfigError

__all__ = ["image_option", "positive_float", "positive_int", "registry_option"]


def positive_int(value: str | int, option: str) -> int:
    """``value`` as a whole number of at least 1, or a ``ConfigError`` naming ``option``."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{option} must be a whole number of at least 1, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"{option} must be a whole number of at least 1, got {value!r}")
    return number


def positive_float(value: str | float, option: str) -> float:
    """``value`` as a positive, finite number of seconds, or a ``ConfigError`` naming ``option``."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{option} must be a positive number of seconds, got {value!r}") from None
    if not (number > 0 and math.isfinite(number)):
        raise ConfigError(f"{option} must be a positive number of seconds, got {value!r}")
    return number


def image_option(ref: str, *, target: str) -> str:
    """``--image``: a valid reference; on the docker target a digest one (a tag can move under a deploy)."""
    import re

    from shipyard._refs import parse_reference

    if re.fullmatch(r"sha256:[0-9a-f]{64}", ref):
        return ref  # a local image id: as immutable as a digest
    if ref.startswith("sha256:") and "/" not in ref and "@" not in ref:  # not a repository called "sha256"
        raise ConfigError(
            f"--image {ref!r} is not an image id: an id is sha256: followed by 64 lowercase hex digits "
            "(`docker image inspect --format '{{.Id}}' <image>`)"
        )
    parsed, problem = parse_reference(ref)
    if parsed is None:
        raise ConfigError(f"--image {ref!r} {problem}; pass a reference such as registry/repo@sha256:<digest>")
    if target == "docker" and not parsed.digest:
        raise ConfigError(
            f"--image {ref!r} has no digest, and a tag can move: the docker target deploys and records digests; "
            "pass repo@sha256:<digest> (what `invoke image.push` prints) or an image id"
        )
    return ref


def registry_option(registry: str, given: bool) -> str:
    """The push target: ``host[:port]``, checked before any work (``--registry`` or ``$SHIPYARD_REGISTRY``)."""
    from shipyard._refs import registry_problem

    if problem := registry_problem(registry):
        source = "--registry" if given else "$SHIPYARD_REGISTRY"
        raise ConfigError(f"{source} {registry!r} {problem}")
    return registry.rstrip("/")  # "host:5000/" + "/" + repository would be no reference at all
