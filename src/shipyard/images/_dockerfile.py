"""What a Dockerfile declares: its ``ARG`` names, so Shipyard passes only build arguments the build consumes.

The classic builder warns ``One or more build-args [...] were not consumed`` for every argument a Dockerfile does
not declare; Shipyard's standard ones (``SHIPYARD_REVISION``, ``SHIPYARD_VERSION``) are offered, never imposed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["declared_args", "only_declared"]

_ARG = re.compile(r"^\s*ARG\s+(.+)$", re.IGNORECASE)


def declared_args(text: str) -> set[str]:
    """The names every ``ARG`` instruction declares (``ARG A=1 B`` declares A and B), continuations joined."""
    joined = re.sub(r"\\\r?\n", " ", text)
    names: set[str] = set()
    for line in joined.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _ARG.match(line)
        if match:
            for word in match.group(1).split():
                name = word.partition("=")[0]
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    names.add(name)
    return names


def only_declared(args: Mapping[str, str], dockerfile: Path) -> dict[str, str]:
    """``args`` restricted to those ``dockerfile`` declares (all of them when it cannot be read)."""
    try:
        declared = declared_args(dockerfile.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return dict(args)
    return {name: value for name, value in args.items() if name in declared}
