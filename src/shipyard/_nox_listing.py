"""A noxfile's session listing (``nox -l --json``), cached on what decides it.

Starting nox to list the sessions costs a Python start and the noxfile's imports, on every ``invoke check`` and
every ``shipyard ci run``. The listing is cached under a stamp (the noxfile, pyproject.toml and uv.lock bytes, the
interpreter, the venv's site-packages, PATH and its directories' mtimes, whatever the caller adds) and, because a
noxfile can read anything, under what the listing itself read: nox runs through a tracer that records every file
opened for reading, every module imported (a module loaded from its bytecode is never opened) and every variable
looked up. A cached listing is used only while all of these are unchanged: project files by their bytes (an edit
that keeps size and mtime counts), the interpreter's and the venvs' files by size and mtime, the variables by a
keyed digest (the cache file holds no value). Reading the whole environment or starting a subprocess keys on every
variable. A failed listing is never cached. Not seen: a directory listed (a session per directory found).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["TRACE_ENV", "cached_listing", "importable_modules", "stamp", "traced"]

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


#: Runs nox as ``python -m nox`` does, recording what the noxfile's listing read: every file opened for reading and
#: every environment variable looked up (iterating or copying the environment records all of it, as does starting
#: a subprocess, which inherits it). Written as JSON to the path in ``$SHIPYARD_LISTING_TRACE`` when nox exits.
_TRACER = r"""
import atexit, json, os, runpy, sys
out = os.environ.pop("SHIPYARD_LISTING_TRACE")
files, dirs, names, everything = set(), set(), set(), []
def hook(event, args):
    if event in ("os.listdir", "os.scandir"):
        where = args[0] if args and args[0] is not None else "."
        if isinstance(where, (str, bytes)):
            dirs.add(os.path.realpath(os.fsdecode(where)))
        elif not everything:
            everything.append(event)  # a directory listed by descriptor: nothing to key it by, never cached
    elif event == "open" and isinstance(args[0], (str, bytes)):
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR))
        if not writes:
            files.add(os.path.realpath(os.fsdecode(args[0])))
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn") and not everything:
        everything.append(event)
sys.addaudithook(hook)
class Recorded(type(os.environ)):
    def __getitem__(self, key):
        names.add(os.fsdecode(key))
        return super().__getitem__(key)
    def __iter__(self):
        everything.append("iter")
        return super().__iter__()
    def copy(self):
        everything.append("copy")
        return super().copy()
os.environ.__class__ = Recorded
if hasattr(os, "environb"):
    os.environb.__class__ = Recorded
@atexit.register
def dump():
    # A module imported from its bytecode was never opened: what was imported is read from sys.modules.
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if isinstance(source, str):
            files.add(os.path.realpath(source))
    with open(out, "w") as f:
        json.dump({"files": sorted(files), "dirs": sorted(dirs), "env": sorted(names), "all_env": bool(everything)}, f)
sys.argv[0] = "nox"
runpy.run_module("nox", run_name="__main__", alter_sys=True)
"""
TRACE_ENV = "SHIPYARD_LISTING_TRACE"
#: Set anew for every command a shell runs: never what a listing depends on.
_VOLATILE = frozenset({"_", "OLDPWD", "SHLVL", TRACE_ENV})


def _file_digest(root: Path, path: str) -> str:
    """What a file the listing read is now: its bytes under ``root`` (an edit that keeps size and mtime counts),
    size and mtime outside it and in its venvs (the interpreter's and the venv's modules, which installs replace)."""
    from shipyard.pipeline._cache import SKIPPED_DIRS

    try:
        target = Path(path)
        if root in target.parents and not SKIPPED_DIRS.intersection(target.relative_to(root).parts):
            return hashlib.sha256(target.read_bytes()).hexdigest() if target.is_file() else "dir"
        info = target.stat()
        return f"{info.st_size}:{info.st_mtime_ns}"
    except OSError:
        return "-"


def _env_digest(root: Path, environ: Mapping[str, str], names: Iterable[str] | None) -> str:
    """A keyed digest of the variables the listing read (``None``: every one): the cache file holds no value."""
    import hmac

    from shipyard.pipeline._cache import LocalStore

    try:
        key = LocalStore(root / CACHE_DIR).hmac_key()
    except OSError:
        import secrets

        key = secrets.token_bytes(32)  # nothing can match: listed every time, never stale
    chosen = sorted(environ) if names is None else sorted(set(names))
    text = "\0".join(f"{n}={environ[n]}" if n in environ else f"{n} unset" for n in chosen if n not in _VOLATILE)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _dir_digest(path: str) -> str:
    """What a directory the listing walked holds now: its entries' names and kinds (a session per directory found)."""
    try:
        with os.scandir(path) as entries:
            return "\0".join(sorted(f"{e.name}/" if e.is_dir() else e.name for e in entries))
    except OSError:
        return "-"


def _deps_digest(root: Path, environ: Mapping[str, str], deps: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    for path in deps["files"]:
        digest.update(f"{path}\0{_file_digest(root, path)}\0".encode())
    for path in deps["dirs"]:
        digest.update(f"{path}\0{_dir_digest(path)}\0".encode())
    digest.update(_env_digest(root, environ, None if deps["all_env"] else deps["env"]).encode())
    return digest.hexdigest()


def _changed_since(path: str, since_ns: int) -> bool:
    try:
        info = Path(path).stat()
    except OSError:
        return False  # gone: its absence is what the stored digest says
    return max(info.st_mtime_ns, info.st_ctime_ns) >= since_ns


def _valid_deps(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("files"), list)
        and all(isinstance(f, str) and "__pycache__" not in f for f in value["files"])
        and isinstance(value.get("dirs"), list)
        and all(isinstance(d, str) for d in value["dirs"])
        and isinstance(value.get("env"), list)
        and all(isinstance(n, str) for n in value["env"])
        and isinstance(value.get("all_env"), bool)
    )


def traced(argv: Sequence[str]) -> list[str] | None:
    """``argv`` (``python -m nox ...``) run through the tracer, or None when it is not a ``-m nox`` command."""
    if len(argv) < 3 or list(argv[1:3]) != ["-m", "nox"]:
        return None
    return [argv[0], "-c", _TRACER, *argv[3:]]


def cached_listing(
    root: Path,
    name: str,
    key: str,
    compute: Callable[[Mapping[str, str]], T],
    *,
    kind: type[T],
    environ: Mapping[str, str],
    refresh: bool = False,
) -> T:
    """``compute(extra_env)``'s JSON value (a ``kind``), from ``.shipyard/cache/<name>.json`` when it was stored
    under ``key`` and nothing the listing read has changed since; a damaged or foreign file is ignored.

    ``compute`` runs the listing through ``traced()`` with ``extra_env`` added to ``environ`` (the environment
    the listing sees); it raises when the listing fails: nothing is stored then. A cache that cannot be written
    (a read-only checkout) only costs the next call a listing."""
    root = root.resolve()
    cache = root / CACHE_DIR / f"{name}.json"
    if not refresh:
        try:
            cached = json.loads(cache.read_text())
            if (
                isinstance(cached, dict)
                and cached.get("stamp") == key
                and isinstance(cached.get("value"), kind)
                and _valid_deps(cached.get("deps"))
                and cached.get("deps_digest") == _deps_digest(root, environ, cached["deps"])
            ):
                value: T = cached["value"]
                return value
        except (OSError, ValueError):
            pass
    import tempfile
    import time

    # A file the listing read that changed after it started may have been read before the change: such a listing is
    # used but not stored. (Less a jiffy: file times come from the kernel's coarse clock. A file system that keeps
    # whole seconds, FAT or ext3, can hide an edit in the listing's own second.)
    started = time.time_ns() - 20_000_000
    with tempfile.TemporaryDirectory(prefix="shipyard-listing-") as scratch:
        trace = Path(scratch) / "trace.json"
        value = compute({TRACE_ENV: str(trace)})
        try:
            recorded = json.loads(trace.read_text())
        except (OSError, ValueError):
            return value  # nothing recorded (not run through the tracer): not cached
    deps = {
        "files": sorted(f for f in recorded.get("files", []) if "__pycache__" not in f and not f.startswith(scratch)),
        "dirs": sorted(d for d in recorded.get("dirs", []) if "__pycache__" not in d and not d.startswith(scratch)),
        "env": recorded.get("env", []),
        "all_env": bool(recorded.get("all_env", True)),
    }
    if not _valid_deps(deps) or any(_changed_since(path, started) for path in deps["files"]):
        return value
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({"stamp": key, "deps": deps, "deps_digest": _deps_digest(root, environ, deps), "value": value})
        )
        tmp.replace(cache)
    except OSError:
        pass
    return value
