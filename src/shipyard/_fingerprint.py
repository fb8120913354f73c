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
- ``uv``: the identity (path, size, mtime) of the uv binary, which changes with every uv upgrade. Stat data is
  used instead of ``uv --version`` to keep a warm run free of subprocesses.
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

__all__ = ["Fingerprint", "Selection", "compute", "read_recorded", "record"]

#: Where a synced venv keeps the fingerprint of its last successful sync.
RECORD_NAME = ".shipyard-sync.json"
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
        uv=_sha(_stat_identity(uv_binary)),
    )


def read_recorded(venv: Path) -> Fingerprint | None:
    """The fingerprint recorded by the venv's last successful sync, or None."""
    try:
        data = json.loads((venv / RECORD_NAME).read_text())
        return Fingerprint(**{name: str(data[name]) for name in Fingerprint.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record(venv: Path, fingerprint: Fingerprint) -> None:
    """Write ``fingerprint`` into ``venv`` atomically (a crash mid-write leaves no half record)."""
    tmp = venv / f"{RECORD_NAME}.tmp"
    tmp.write_text(json.dumps({**asdict(fingerprint), "digest": fingerprint.digest}, indent=2, sort_keys=True))
    tmp.replace(venv / RECORD_NAME)


def unknown_names(requested: Sequence[str], defined: Sequence[str]) -> list[str]:
    """The requested names that are not defined (for group/extra validation)."""
    return [name for name in requested if name not in defined]
