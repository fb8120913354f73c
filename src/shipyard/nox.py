"""Lockfile-bound nox sessions: ``@shipyard.nox.session(groups=[...])``.

A drop-in for ``@nox.session`` whose virtualenv (nox's uv backend, reused between runs) is synced with
``uv sync --locked`` for exactly the groups, extras and package the session names. The venv records a content
fingerprint of what the sync depended on (see ``shipyard._fingerprint``); a warm run whose fingerprint matches
skips the sync, and any change (a re-lock, a pyproject dependency edit, another interpreter or uv) re-syncs.
So plain ``nox -s lint`` is both fast and correct, with no ``-r``/``-R`` to remember. nox's own reuse flags are
honoured: ``--reuse-venv=no|never``, ``-N``/``--no-reuse-existing-virtualenvs`` give a fresh venv, ``-r`` and
``--reuse-venv=yes|always`` reuse it, and ``-R`` (no install) skips the sync, as nox promises. A venv that lost
something its sync installed (a tool binary deleted) is re-synced with ``--reinstall``.

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
#: ``groups``/``extras`` computed from a session's parametrize values.
ParamsFn = Callable[[dict[str, Any]], Sequence[str]]
#: The backends a lockfile-bound session can run on (see ``session``).
_BACKENDS = ("uv", "uv|virtualenv", "uv|venv")

#: The newest CPython minor version, the upper bound when only requires-python names the supported versions.
NEWEST_PYTHON = "3.14"
#: The oldest version a requires-python without a lower bound ("<3.13") makes sessions for.
OLDEST_PYTHON = "3.8"
#: Interpreter-presence answers kept, one per PATH.
PYTHONS_CACHE_ENTRIES = 8


@overload
def session(func: F, /) -> F: ...


@overload
def session(
    func: None = None,
    /,
    *,
    groups: Sequence[str] | ParamsFn = (),
    extras: Sequence[str] | ParamsFn = (),
    package: str | None = None,
    install_project: bool = True,
    python: str | Sequence[str] | bool | None = None,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    default: bool = True,
    requires: Sequence[str] | None = None,
    wheel: bool = False,
    dist: str = "dist",
    venv_backend: str = "uv",
) -> Callable[[F], F]: ...


def session(
    func: F | None = None,
    /,
    *,
    groups: Sequence[str] | ParamsFn = (),
    extras: Sequence[str] | ParamsFn = (),
    package: str | None = None,
    install_project: bool = True,
    python: str | Sequence[str] | bool | None = None,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    default: bool = True,
    requires: Sequence[str] | None = None,
    wheel: bool = False,
    dist: str = "dist",
    venv_backend: str = "uv",
) -> F | Callable[[F], F]:
    """Declare a nox session whose environment is synced from uv.lock.

    ``groups``, ``extras`` and ``package`` select what ``uv sync`` installs; with ``install_project=False`` only
    the groups are installed (``--only-group``), not the project or its dependencies. The other arguments are
    ``nox.session``'s. The venv is always nox's uv backend, reused between runs.

    ``groups`` and ``extras`` may be functions of the session's ``@nox.parametrize`` values (a dict of them), e.g.
    ``groups=lambda p: ["test", f"django{p['django']}"]``. ``wheel=True`` installs the project's wheel from
    ``dist`` (the ``build`` session's artifact, the file CI ships) instead of the editable project; its
    dependencies still come from uv.lock. ``venv_backend`` accepts nox's ``"uv"`` or ``"uv|virtualenv"``: the
    environment always comes from uv.lock, which only uv reads, so without uv the session fails saying so
    instead of falling back to an unlocked virtualenv.
    """
    _check_backend(venv_backend)

    def decorate(body: F) -> F:
        @functools.wraps(body)
        def with_synced_env(s: nox.Session, *args: Any, **kwargs: Any) -> Any:
            selection = Selection(
                _resolve(groups, kwargs, "groups", s), _resolve(extras, kwargs, "extras", s), package, install_project
            )
            sync(s, selection, wheel=wheel)
            if wheel:
                _install_built_wheel(s, dist, package)
            return body(s, *args, **kwargs)

        register = nox.session(
            python=python,
            name=name,
            tags=tags,
            default=default,
            requires=requires,
            venv_backend=venv_backend,
            # Reuse by default (the fingerprint keeps a reused venv correct); a reuse flag the user gave nox
            # decides instead (None delegates to nox's --reuse-venv).
            reuse_venv=True if _reuse_flag_given(sys.argv[1:]) is None else None,
        )
        return cast("F", register(with_synced_env))

    return decorate if func is None else decorate(func)


def sync(s: nox.Session, selection: Selection, *, wheel: bool = False) -> None:
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
        missing = _fingerprint.missing_installed(venv) if current == recorded else []
        if current == recorded and not missing:
            s.log(f"shipyard: environment matches uv.lock ({current.digest}); sync skipped")
            return
        if _no_install(s):
            s.warn("shipyard: environment differs from uv.lock, but -R/--no-install skips the sync")
            return
        pyprojects = {str(p.relative_to(root)): _pyproject.load(p) for p in _pyproject.workspace_pyprojects(root)}
        _uv.validate_selection(selection, pyprojects, session=s.name)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            reason = f"the environment lost {missing[0]}{more}, which its last sync installed"
        elif recorded is None:
            reason = "new environment"
        else:
            reason = f"{', '.join(current.changed_parts(recorded))} changed"
        argv = _uv.sync_argv(uv, selection, Path(s.virtualenv.bin) / "python")
        if wheel:  # the project's dependencies from the lock, the project itself from its wheel
            argv += ["--no-install-package", selection.package] if selection.package else ["--no-install-project"]
        if missing:
            # uv sync sees the package still installed and checks none of its files: only a reinstall brings a
            # deleted binary back (a wheel's data script such as bin/ruff, or an entry point).
            argv.append("--reinstall")
        s.log(f"shipyard: {reason}; {' '.join(['uv', *argv[1:]])}")
        env = {"UV_PROJECT_ENVIRONMENT": str(venv), "VIRTUAL_ENV": str(venv)}
        result = _command.run(argv, cwd=root, env=env, check=False)
        if result.returncode != 0:
            s.error(_uv.explain_failure(result.output, session=s.name))
        still = [name for name in missing if name not in set(_fingerprint.installed(venv))]
        if still:  # never record as healthy a venv that still lacks what it had
            s.error(f"shipyard: {still[0]} is still missing after `uv sync --reinstall`; remove {venv} and rerun")
        _fingerprint.record(venv, _fingerprint.compute(root, selection, venv, uv))
    except ShipyardError as exc:
        s.error(str(exc))


def _check_backend(venv_backend: str) -> None:
    if venv_backend not in _BACKENDS:
        raise ValueError(
            f"shipyard.nox.session(venv_backend={venv_backend!r}): sessions are synced from uv.lock, which needs "
            f"uv; use one of {', '.join(_BACKENDS)} (the fallback only changes who creates the venv)"
        )


def _resolve(value: Sequence[str] | ParamsFn, params: dict[str, Any], what: str, s: nox.Session) -> tuple[str, ...]:
    if not callable(value):
        return tuple(value)
    names = value(dict(params))
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        s.error(f"shipyard: {what}= of session {s.name} must return a list of names, got {names!r}")
    return tuple(names)


def _install_built_wheel(s: nox.Session, dist: str, package: str | None) -> None:
    from shipyard import _wheel

    try:
        root = _pyproject.find_root(Path(s.invoked_from))
        name, wheel = _wheel.find_wheel(root, dist, package)
        if _wheel.install_wheel(_uv.find_uv(), Path(s.virtualenv.location), name, wheel):
            s.log(f"shipyard: installed {wheel.name} (the built wheel, not the editable project)")
        else:
            s.log(f"shipyard: {wheel.name} already installed")
    except ShipyardError as exc:
        s.error(str(exc))


def uv_binary() -> str:
    """The uv binary sessions sync with (``$UV``, else the locked ``uv`` package beside nox, else PATH)."""
    return str(_uv.find_uv())


def _reuse_flag_given(argv: Sequence[str]) -> bool | None:
    """The reuse choice on nox's command line: True (reuse), False (a fresh venv), None (none given)."""
    choice: bool | None = None
    for i, arg in enumerate(argv):
        if arg == "--":  # what follows goes to the session
            break
        if arg.startswith("--reuse-venv="):
            value = arg.partition("=")[2]
        elif arg == "--reuse-venv" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg in ("-N", "--no-reuse-existing-virtualenvs"):
            value = "no"
        elif arg in ("-r", "-R", "--reuse-existing-virtualenvs"):
            value = "yes"
        else:
            continue
        choice = value in ("yes", "always")
    return choice


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
    try:
        wanted, from_classifiers = _supported_versions(path)
    except ConfigError as exc:
        # Called while nox imports the noxfile, where an exception is a traceback: one line and exit 2 instead.
        print(f"nox: error: {exc}", file=sys.stderr)  # noqa: T201 - nox is importing the noxfile: no logger yet
        raise SystemExit(ConfigError.exit_code) from None
    if os.environ.get("SHIPYARD_LIST_ALL_PYTHONS"):
        # Listing for CI (`shipyard ci generate`/`check`): every supported version, installed here or not, so the
        # generated matrix does not depend on the machine that generated it.
        return list(wanted)
    present = _present_interpreters(wanted, cache_dir=path.parent / ".nox")
    skipped = [v for v in wanted if v not in present]
    if skipped and from_classifiers:
        logger.warning(
            f"shipyard: no interpreter found for Python {', '.join(skipped)} (from {path.name}); "
            f"those sessions are skipped. Install them (e.g. `uv python install {' '.join(skipped)}`) to run them."
        )
    kept = [v for v in wanted if v in present]
    return kept or [f"{sys.version_info.major}.{sys.version_info.minor}"]


def _supported_versions(path: Path) -> tuple[list[str], bool]:
    """The versions pyproject declares, and whether they come from classifiers (else from requires-python)."""
    data = _pyproject.load(path)  # a malformed file is one ConfigError line, not a TOMLDecodeError
    _check_classifiers(data, file=str(path))
    classifiers = data.get("project", {}).get("classifiers", [])
    if any(str(c).startswith("Programming Language :: Python :: 3.") for c in classifiers):
        return list(nox.project.python_versions(data)), True
    # No version classifiers: every version requires-python allows, up to the newest CPython there is.
    return _from_requires_python(data.get("project", {}).get("requires-python"), path), False


def _from_requires_python(requires: object, path: Path) -> list[str]:
    """Every minor version ``requires`` allows (any of its releases), OLDEST_PYTHON..NEWEST_PYTHON."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    key = "project.requires-python"
    if requires is None or requires == "":
        raise ConfigError(
            'declares no Python versions: add `requires-python` (e.g. ">=3.11") or version classifiers',
            file=str(path),
            key="project",
        )
    if not isinstance(requires, str):
        raise ConfigError(
            f'must be a version specifier string such as ">=3.11", got {requires!r}', file=str(path), key=key
        )
    try:
        allowed = SpecifierSet(requires)
    except InvalidSpecifier:
        raise ConfigError(f'{requires!r} is not a version specifier (e.g. ">=3.11")', file=str(path), key=key) from None
    oldest, newest = (int(v.split(".")[1]) for v in (OLDEST_PYTHON, NEWEST_PYTHON))
    # A minor version is in when its first or a late release is allowed (">3.11" allows 3.11.1; "<3.12.5" 3.12.0).
    wanted = [
        f"3.{minor}"
        for minor in range(oldest, newest + 1)
        if allowed.contains(f"3.{minor}.0", prereleases=True) or allowed.contains(f"3.{minor}.99", prereleases=True)
    ]
    if not wanted:
        raise ConfigError(
            f"{requires!r} allows no Python 3 version from {OLDEST_PYTHON} to {NEWEST_PYTHON}", file=str(path), key=key
        )
    return wanted


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
    # One entry per PATH (and versions asked): `uv run --locked nox` (.venv/bin first on PATH) and `.venv/bin/nox`
    # alternate without re-running discovery.
    path_dirs = os.environ.get("PATH", "").split(os.pathsep)
    stamp = [(d, _mtime(d)) for d in path_dirs]
    key = hashlib.sha256(json.dumps([list(versions), stamp]).encode()).hexdigest()
    cache = cache_dir / ".shipyard-pythons.json"
    entries: dict[str, list[str]] = {}
    try:
        cached = json.loads(cache.read_text())
        entries = {str(k): list(v) for k, v in cached["entries"].items()}
        if key in entries:
            return set(entries[key])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    from python_discovery import get_interpreter

    present = {v for v in versions if get_interpreter(v) is not None}
    entries.pop(key, None)
    entries[key] = sorted(present)
    try:
        cache_dir.mkdir(exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"entries": dict(list(entries.items())[-PYTHONS_CACHE_ENTRIES:])}))
        tmp.replace(cache)
    except OSError:
        pass
    return present


def _mtime(directory: str) -> int:
    try:
        return Path(directory).stat().st_mtime_ns
    except OSError:
        return 0
