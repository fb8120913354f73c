"""Testing the built wheel instead of the editable project: find the ``build`` session's wheel, install it once.

The venv records the digest of the wheel it holds (``.shipyard-wheel.json``), so a warm run with the same wheel
installs nothing, and a rebuilt wheel is installed again.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from shipyard import _command, _pyproject
from shipyard._errors import SyncError

__all__ = ["find_wheel", "install_wheel"]

RECORD_NAME = ".shipyard-wheel.json"


def find_wheel(root: Path, dist: str, package: str | None) -> tuple[str, Path]:
    """(name, path) of the project's (or ``package``'s) wheel of the current version in ``root/dist``."""
    meta: dict[str, object] = {}
    for path in _pyproject.workspace_pyprojects(root):
        candidate = _pyproject.load(path).get("project", {})
        if package is None or candidate.get("name") == package:
            meta = candidate
            break
    name = str(meta.get("name", package or ""))
    if not name:
        raise SyncError(f"{root / 'pyproject.toml'}: no [project] name, so there is no wheel to install")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    version = str(meta.get("version", "*"))
    found = sorted((root / dist).glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise SyncError(
            f"no wheel of {name} {version} in {root / dist}: run `nox -s build` first "
            "(the session tests the build session's wheel, the file CI ships)"
        )
    return name, found[-1]


def install_wheel(uv: Path, venv: Path, name: str, wheel: Path) -> bool:
    """Install ``wheel`` (no dependencies: the sync installed them) unless the venv holds it; True if installed."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    record = venv / RECORD_NAME
    try:
        if json.loads(record.read_text()).get("sha256") == digest:
            return False
    except (OSError, ValueError):
        pass
    python = venv / "bin" / "python"
    argv = [str(uv), "pip", "install", "--python", str(python), "--no-deps", "--reinstall-package", name, str(wheel)]
    result = _command.run(argv, check=False)
    if result.returncode != 0:
        tail = result.output.strip().splitlines()[-1:] or ["no output"]
        raise SyncError(f"installing {wheel.name} into {venv} failed: {tail[0]}")
    record.write_text(json.dumps({"wheel": wheel.name, "sha256": digest}))
    return True
