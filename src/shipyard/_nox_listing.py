"""A noxfile's session listing (``nox -l --json``), cached on what decides it.

Starting nox to list the sessions costs a Python start and the noxfile's imports, on every ``invoke check`` and
every ``shipyard ci run``. The listing only changes when one of these does, so each is part of the cache's stamp:
the noxfile and pyproject.toml (bytes), uv.lock (bytes: the nox and plugins the venv holds), the size and mtime of
every module the noxfile can import from its directory, the interpreter, the venv's site-packages (its mtime
moves when a package is installed or removed), PATH and its directories' mtimes (an interpreter installed), and
whatever the caller adds (the argv, the variables it sets). A failed listing is never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

__all__ = ["cached_listing", "importable_modules", "stamp"]

CACHE_DIR = Path(".shipyard") / "cache"
T = TypeVar("T")


def importable_modules(root: Path) -> list[Path]:
    """The .py files the noxfile can import from its directory: top-level modules and packages (no git call)."""
    from shipyard.pipeline._cache import SKIPPED_DIRS

    found: list[Path] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.endswith(".py") and entry.is_file():
                found.append(Path(entry.path))
            elif entry.is_dir() and entry.name not in SKIPPED_DIRS and (Path(entry.path) / "__init__.py").is_file():
                for directory, dirs, files in os.walk(entry.path):
                    dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
                    found += [Path(directory) / name for name in files if name.endswith(".py")]
    return sorted(found)


def _mtime(path: str | Path) -> str:
    try:
        return str(Path(path).stat().st_mtime_ns)
    except OSError:
        return "-"


def stamp(root: Path, noxfile: Path, extra: Iterable[str] = ()) -> str:
    """The hex digest of everything that decides what ``noxfile`` lists (see the module docstring)."""
    digest = hashlib.sha256()
    for part in (noxfile, root / "pyproject.toml", root / "uv.lock"):
        digest.update(part.read_bytes() if part.is_file() else b"")
        digest.update(b"\0")
    for path in importable_modules(noxfile.parent):
        try:
            info = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    digest.update(f"{sys.executable}\0{_mtime(sysconfig.get_paths()['purelib'])}\0".encode())
    digest.update(os.environ.get("PATH", "").encode())
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        digest.update(_mtime(directory).encode())
    for item in extra:
        digest.update(f"\0{item}".encode())
    return digest.hexdigest()


def cached_listing(
    root: Path, name: str, key: str, compute: Callable[[], T], *, kind: type[T], refresh: bool = False
) -> T:
    """``compute()``'s JSON value (a ``kind``), from ``.shipyard/cache/<name>.json`` when it was stored under
    ``key``; a damaged or foreign file is ignored (listed again).

    ``compute`` raises when the listing fails: nothing is stored then. A cache that cannot be written (a read-only
    checkout) only costs the next call a listing."""
    cache = root / CACHE_DIR / f"{name}.json"
    if not refresh:
        try:
            cached = json.loads(cache.read_text())
            if isinstance(cached, dict) and cached.get("stamp") == key and isinstance(cached.get("value"), kind):
                value: T = cached["value"]
                return value
        except (OSError, ValueError):
            pass
    value = compute()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stamp": key, "value": value}))
        tmp.replace(cache)
    except OSError:
        pass
    return value
