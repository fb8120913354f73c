"""The content fingerprint of a session environment: what ``uv sync`` would depend on, hashed.

A session's venv records the fingerprint of its last successful sync. When the current fingerprint matches,
the sync is skipped; when any part differs, the venv is re-synced. The parts, kept apart so a mismatch can say
*which* one changed:

- ``lock``: the bytes of uv.lock.
- ``project``: for the root and every workspace member, the pyproject tables uv's resolution reads
  (``[project]`` name/version/dependencies/optional-dependencies/requires-python, ``[dependency-groups]``,
  ``[tool.uv]``, ``[build-system]``). Other tables (ruff, mypy, pytest...) do not enter it, so editing tool
  configuration never costs a sync.
- ``selection``: the groups, extras, package and install-project flag the session names.
- ``interpreter``: the venv's pyvenv.cfg and the identity (path, size, mtime) of its Python binary.
- ``uv``: uv's version (``uv --version``), so two binaries of one version (the one ``uv run`` exports as ``$UV``
  and the locked one beside ``.venv/bin/nox``) are the same environment. The version is asked once per binary:
  it is cached in ``.nox/.shipyard-uv.json`` against the binary's identity (path, size, mtime), which keeps a warm
  run free of subprocesses.

The record also lists what the sync installed (the venv's ``bin/`` entries and top-level ``site-packages``
entries): a venv that lost one of them (a tool binary deleted) is re-synced even though its fingerprint matches.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard import _pyproject
from shipyard._errors import SyncError

__all__ = [
    "Fingerprint",
    "Selection",
    "compute",
    "installed",
    "missing_installed",
    "read_recorded",
    "record",
    "uv_version",
]

#: Where a synced venv keeps the fingerprint of its last successful sync.
RECORD_NAME = ".shipyard-sync.json"
#: Beside the venvs: uv binary identity -> its version.
UV_VERSIONS_NAME = ".shipyard-uv.json"
_PROJECT_KEYS = ("name", "version", "dependencies", "optional-dependencies", "requires-python", "dynamic")


@dataclass(frozen=True)
class Selection:
    """What part of the lock a session installs."""

    groups: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    package: str | None = None
    install_project: bool = True


@dataclass(frozen=True)
class Fingerprint:
    """The parts of an environment's identity; ``digest`` hashes them all."""

    lock: str
    project: str
    selection: str
    interpreter: str
    uv: str

    @property
    def digest(self) -> str:
        return _sha(json.dumps(asdict(self), sort_keys=True))[:16]

    def changed_parts(self, other: Fingerprint | None) -> list[str]:
        """Names of the parts that differ from ``other`` (all of them when there is no record)."""
        mine = asdict(self)
        if other is None:
            return list(mine)
        theirs = asdict(other)
        return [name for name in mine if mine[name] != theirs[name]]


def _sha(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def _stat_identity(path: Path) -> str:
    try:
        real = path.resolve()
        st = real.stat()
    except OSError:
        return f"{path}:missing"
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


_uv_versions: dict[str, str] = {}


def uv_version(uv_binary: Path, cache_dir: Path | None = None) -> str:
    """``uv --version`` of ``uv_binary``, asked once per binary identity (in this process and in ``cache_dir``)."""
    identity = _stat_identity(uv_binary)
    if identity in _uv_versions:
        return _uv_versions[identity]
    cache = cache_dir / UV_VERSIONS_NAME if cache_dir is not None else None
    known: dict[str, str] = {}
    if cache is not None:
        try:
            loaded = json.loads(cache.read_text())
            known = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            known = {}
    if identity not in known:
        from shipyard import _command
        from shipyard._errors import CommandFailed

        try:
            result = _command.run([str(uv_binary), "--version"], check=False, timeout=30)
            words = result.output.split()
            version = words[1] if result.returncode == 0 and len(words) > 1 and words[0] == "uv" else ""
        except CommandFailed:
            version = ""
        known[identity] = version or f"unknown ({identity})"
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(dict(list(known.items())[-16:]), indent=1, sort_keys=True))
                tmp.replace(cache)
            except OSError:
                pass
    _uv_versions[identity] = known[identity]
    return known[identity]


def _resolution_tables(data: Mapping[str, Any]) -> dict[str, Any]:
    project = data.get("project", {})
    return {
        "project": {key: project[key] for key in _PROJECT_KEYS if key in project},
        "dependency-groups": data.get("dependency-groups", {}),
        "tool.uv": data.get("tool", {}).get("uv", {}),
        "build-system": data.get("build-system", {}),
    }


def compute(root: Path, selection: Selection, venv: Path, uv_binary: Path) -> Fingerprint:
    """Fingerprint the environment ``venv`` would have after syncing ``selection`` of ``root``'s lock."""
    lock = root / "uv.lock"
    try:
        lock_bytes = lock.read_bytes()
    except FileNotFoundError as exc:
        raise SyncError(f"{lock} does not exist: run `uv lock` to create it") from exc
    tables = {
        str(path.relative_to(root)): _resolution_tables(_pyproject.load(path))
        for path in _pyproject.workspace_pyprojects(root)
    }
    try:
        pyvenv = (venv / "pyvenv.cfg").read_text()
    except OSError:
        pyvenv = "missing"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return Fingerprint(
        lock=_sha(lock_bytes),
        project=_sha(json.dumps(tables, sort_keys=True)),
        selection=_sha(json.dumps(asdict(selection), sort_keys=True)),
        interpreter=_sha(pyvenv + _stat_identity(python)),
        uv=_sha(uv_version(uv_binary, venv.parent)),
    )


def read_recorded(venv: Path) -> Fingerprint | None:
    """The fingerprint recorded by the venv's last successful sync, or None."""
    try:
        data = json.loads((venv / RECORD_NAME).read_text())
        return Fingerprint(**{name: str(data[name]) for name in Fingerprint.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def installed(venv: Path) -> list[str]:
    """What a sync put in ``venv``, cheaply: its ``bin/`` entries and its top-level ``site-packages`` entries."""
    found: list[str] = []
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    for base in (scripts, *sorted(venv.glob("lib/python*/site-packages")), venv / "Lib" / "site-packages"):
        try:
            names = [entry.name for entry in base.iterdir()]
        except OSError:
            continue
        rel = base.relative_to(venv).as_posix()
        found += [f"{rel}/{name}" for name in names if not name.startswith((".", "__pycache__"))]
    return sorted(found)


def missing_installed(venv: Path) -> list[str]:
    """Entries the last sync installed that are gone now (a deleted tool binary): the venv needs a re-sync."""
    try:
        data = json.loads((venv / RECORD_NAME).read_text())
        recorded = [str(name) for name in data.get("installed", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return []
    present = set(installed(venv))
    return [name for name in recorded if name not in present]


def record(venv: Path, fingerprint: Fingerprint) -> None:
    """Write ``fingerprint`` and what is installed into ``venv`` atomically (no half record after a crash)."""
    tmp = venv / f"{RECORD_NAME}.tmp"
    data = {**asdict(fingerprint), "digest": fingerprint.digest, "installed": installed(venv)}
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(venv / RECORD_NAME)


def unknown_names(requested: Sequence[str], defined: Sequence[str]) -> list[str]:
    """The requested names that are not defined (for group/extra validation)."""
    return [name for name in requested if name not in defined]
