"""Driving uv: finding the binary nox uses, building the ``uv sync`` command, and reading its failures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard._errors import SyncError
from shipyard._fingerprint import Selection

__all__ = ["explain_failure", "find_uv", "sync_argv", "validate_selection"]

_STALE_LOCK_MARKERS = ("needs to be updated, but `--locked` was provided", "needs to be updated, but `--locked`")


def find_uv() -> Path:
    """The uv binary, found the way nox finds it: ``$UV``, then the ``uv`` package beside nox, then PATH.

    No subprocess is started: a warm session must not pay for ``uv --version``.
    """
    if named := os.environ.get("UV"):
        found = shutil.which(named)
        if found:
            return Path(found)
        raise SyncError(f"$UV is set to {named!r}, which is not an executable; fix or unset it")
    try:
        from uv import find_uv_bin

        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise SyncError("uv is not installed: run `bash ci/bootstrap.sh` or `pip install uv`")
    return Path(found)


def sync_argv(uv: Path, selection: Selection, python: Path) -> list[str]:
    """``uv sync --locked`` for exactly what ``selection`` names, into the environment of ``python``."""
    argv = [str(uv), "sync", "--locked", "--no-default-groups", "--python", str(python)]
    # Without the project, install the groups alone: `--no-install-project` would still pull in the
    # project's dependencies, which a lint or build session has no use for.
    group_flag = "--group" if selection.install_project else "--only-group"
    for group in selection.groups:
        argv += [group_flag, group]
    for extra in selection.extras:
        argv += ["--extra", extra]
    if selection.package:
        argv += ["--package", selection.package]
    return argv


def validate_selection(selection: Selection, pyprojects: Mapping[str, Mapping[str, Any]], *, session: str) -> None:
    """Fail before running uv when the session names a group, extra or package the project does not define."""
    by_name = {data.get("project", {}).get("name"): (path, data) for path, data in pyprojects.items()}
    root_path, root = next(iter(pyprojects.items()))
    if selection.package is not None and selection.package not in by_name:
        names = ", ".join(sorted(str(name) for name in by_name if name))
        raise SyncError(
            f"noxfile.py: session {session!r} names package {selection.package!r}, which is not in the uv "
            f"workspace (members: {names}); fix `package=` or add it to [tool.uv.workspace].members"
        )
    path, data = by_name[selection.package] if selection.package else (root_path, root)
    _check_defined(
        selection.groups,
        data.get("dependency-groups", {}),
        "dependency group",
        "[dependency-groups]",
        session=session,
        path=path,
    )
    _check_defined(
        selection.extras,
        data.get("project", {}).get("optional-dependencies", {}),
        "extra",
        "[project.optional-dependencies]",
        session=session,
        path=path,
    )


def _check_defined(
    names: Sequence[str], table: Mapping[str, Any], what: str, where: str, *, session: str, path: str
) -> None:
    for name in names:
        if name not in table:
            defined = ", ".join(sorted(table)) or "none"
            raise SyncError(
                f"noxfile.py: session {session!r} names {what} {name!r}, which {path} {where} does not define "
                f"(defined: {defined}); add it there or fix the session"
            )


def explain_failure(output: str, *, session: str) -> str:
    """One line saying why ``uv sync`` failed, and what to do."""
    if any(marker in output for marker in _STALE_LOCK_MARKERS):
        return "uv.lock is out of date with pyproject.toml: run `uv lock` and commit uv.lock"
    errors = [line.strip() for line in output.splitlines() if line.strip().lower().startswith("error")]
    detail = errors[0] if errors else (output.strip().splitlines() or ["no output"])[-1].strip()
    return f"`uv sync` failed for session {session!r}: {detail}"
