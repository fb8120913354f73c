"""Lockfile-bound nox sessions: ``@shipyard.nox.session(groups=[...])``.

A drop-in for ``@nox.session`` whose virtualenv (nox's uv backend, reused between runs) is synced with
``uv sync --locked`` for exactly the groups, extras and package the session names. The venv records a content
fingerprint of what the sync depended on (see ``shipyard._fingerprint``); a warm run whose fingerprint matches
skips the sync, and any change (a re-lock, a pyproject dependency edit, another interpreter or uv) re-syncs.
So plain ``nox -s lint`` is both fast and correct, with no ``-r``/``-R`` to remember. ``-R`` (no install)
is honoured: it skips the sync, as nox promises.

Example::

    import shipyard.nox

    @shipyard.nox.session(groups=["lint"], install_project=False)
    def lint(session: nox.Session) -> None:
        session.run("ruff", "check", ".")
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast, overload

import nox
from nox.logger import logger

from shipyard import _command, _fingerprint, _pyproject, _uv
from shipyard._errors import ConfigError, ShipyardError
from shipyard._fingerprint import Selection

__all__ = ["python_versions", "session", "sync", "uv_binary"]

F = TypeVar("F", bound=Callable[..., Any])


@overload
def session(func: F, /) -> F: ...


@overload
def session(
    func: None = None,
    /,
    *,
    groups: Sequence[str] = (),
    extras: Sequence[str] = (),
    package: str | None = None,
    install_project: bool = True,
    python: str | Sequence[str] | bool | None = None,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    default: bool = True,
    requires: Sequence[str] | None = None,
) -> Callable[[F], F]: ...


def session(
    func: F | None = None,
    /,
    *,
    groups: Sequence[str] = (),
    extras: Sequence[str] = (),
    package: str | None = None,
    install_project: bool = True,
    python: str | Sequence[str] | bool | None = None,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    default: bool = True,
    requires: Sequence[str] | None = None,
) -> F | Callable[[F], F]:
    """Declare a nox session whose environment is synced from uv.lock.

    ``groups``, ``extras`` and ``package`` select what ``uv sync`` installs; with ``install_project=False`` only
    the groups are installed (``--only-group``), not the project or its dependencies. The other arguments are
    ``nox.session``'s. The venv is always nox's uv backend, reused between runs.
    """
    selection = Selection(tuple(groups), tuple(extras), package, install_project)

    def decorate(body: F) -> F:
        @functools.wraps(body)
        def with_synced_env(s: nox.Session, *args: Any, **kwargs: Any) -> Any:
            sync(s, selection)
            return body(s, *args, **kwargs)

        register = nox.session(
            python=python,
            name=name,
            tags=tags,
            default=default,
            requires=requires,
            venv_backend="uv",
            reuse_venv=True,
        )
        return cast("F", register(with_synced_env))

    return decorate if func is None else decorate(func)


def sync(s: nox.Session, selection: Selection) -> None:
    """Bring the session's venv in line with uv.lock, or skip when its recorded fingerprint still matches."""
    location = getattr(s.virtualenv, "location", None)
    if not location:
        s.error("shipyard sessions need a virtualenv; do not run them with --no-venv or venv_backend='none'")
    venv = Path(location)
    try:
        root = _pyproject.find_root(Path(s.invoked_from))
        uv = _uv.find_uv()
        current = _fingerprint.compute(root, selection, venv, uv)
        recorded = _fingerprint.read_recorded(venv)
        if current == recorded:
            s.log(f"shipyard: environment matches uv.lock ({current.digest}); sync skipped")
            return
        if _no_install(s):
            s.warn("shipyard: environment differs from uv.lock, but -R/--no-install skips the sync")
            return
        pyprojects = {str(p.relative_to(root)): _pyproject.load(p) for p in _pyproject.workspace_pyprojects(root)}
        _uv.validate_selection(selection, pyprojects, session=s.name)
        reason = "new environment" if recorded is None else f"{', '.join(current.changed_parts(recorded))} changed"
        argv = _uv.sync_argv(uv, selection, Path(s.virtualenv.bin) / "python")
        s.log(f"shipyard: {reason}; {' '.join(['uv', *argv[1:]])}")
        env = {"UV_PROJECT_ENVIRONMENT": str(venv), "VIRTUAL_ENV": str(venv)}
        result = _command.run(argv, cwd=root, env=env, check=False)
        if result.returncode != 0:
            s.error(_uv.explain_failure(result.output, session=s.name))
        _fingerprint.record(venv, _fingerprint.compute(root, selection, venv, uv))
    except ShipyardError as exc:
        s.error(str(exc))


def uv_binary() -> str:
    """The uv binary sessions sync with (``$UV``, else the locked ``uv`` package beside nox, else PATH)."""
    return str(_uv.find_uv())


def _no_install(s: nox.Session) -> bool:
    # nox exposes -R as "reuse and do not install"; mirror run_install's own test for it.
    runner = getattr(s, "_runner", None)
    config = getattr(runner, "global_config", None)
    return bool(getattr(config, "no_install", False)) and bool(getattr(s.virtualenv, "_reused", False))


def python_versions(pyproject: str | Path = "pyproject.toml") -> list[str]:
    """The Python versions the project supports (classifiers, bounded by requires-python) that are present.

    Versions with no interpreter on this machine are left out, with a warning naming them, so that a
    python-parametrized session runs everywhere it can instead of failing on a missing interpreter. Presence
    is decided by the discovery nox itself uses, cached against PATH so a warm ``nox`` start stays fast.
    """
    path = Path(pyproject)
    wanted = _wanted_versions(path)
    if os.environ.get("SHIPYARD_LIST_ALL_PYTHONS"):
        # Listing for CI (`shipyard ci generate`/`check`): every supported version, installed here or not, so the
        # generated matrix does not depend on the machine that generated it.
        return list(wanted)
    present = _present_interpreters(wanted, cache_dir=path.parent / ".nox")
    skipped = [v for v in wanted if v not in present]
    if skipped:
        logger.warning(
            f"shipyard: no interpreter found for Python {', '.join(skipped)} (from {path.name}); "
            f"those sessions are skipped. Install them (e.g. `uv python install {' '.join(skipped)}`) to run them."
        )
    kept = [v for v in wanted if v in present]
    return kept or [f"{sys.version_info.major}.{sys.version_info.minor}"]


def _wanted_versions(path: Path) -> list[str]:
    # Called while nox imports the noxfile, where an exception is a traceback: a bad pyproject is one line.
    try:
        data = _pyproject.load(path)
        _check_classifiers(data, file=str(path))
        return list(nox.project.python_versions(data))
    except ConfigError as exc:
        message = str(exc)
    except ValueError as exc:
        message = f"{path}: project.classifiers: {exc}; add 'Programming Language :: Python :: 3.x' classifiers"
    print(f"nox: error: {message}", file=sys.stderr)  # noqa: T201 - nox is importing the noxfile: no logger yet
    raise SystemExit(ConfigError.exit_code)


def _check_classifiers(data: dict[str, Any], *, file: str) -> None:
    """``[project]`` a table and ``classifiers`` a list of strings: nox's own reader assumes both."""
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise ConfigError(f"must be a table, got {type(project).__name__}", file=file, key="project")
    classifiers = project.get("classifiers", [])
    if not isinstance(classifiers, list) or not all(isinstance(c, str) for c in classifiers):
        raise ConfigError(
            'must be a list of strings, e.g. ["Programming Language :: Python :: 3.12"]',
            file=file,
            key="project.classifiers",
        )


def _present_interpreters(versions: Sequence[str], *, cache_dir: Path) -> set[str]:
    path_dirs = os.environ.get("PATH", "").split(os.pathsep)
    stamp = [(d, _mtime(d)) for d in path_dirs]
    key = hashlib.sha256(json.dumps([list(versions), stamp]).encode()).hexdigest()
    cache = cache_dir / ".shipyard-pythons.json"
    try:
        cached = json.loads(cache.read_text())
        if cached["key"] == key:
            return set(cached["present"])
    except (OSError, ValueError, KeyError):
        pass
    from python_discovery import get_interpreter

    present = {v for v in versions if get_interpreter(v) is not None}
    try:
        cache_dir.mkdir(exist_ok=True)
        cache.write_text(json.dumps({"key": key, "present": sorted(present)}))
    except OSError:
        pass
    return present


def _mtime(directory: str) -> int:
    try:
        return Path(directory).stat().st_mtime_ns
    except OSError:
        return 0
