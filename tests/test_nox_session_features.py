"""Sessions libraries need, with real nox and uv: the built wheel instead of the editable project, groups chosen
by a parametrize value, and nox's "uv|virtualenv" backend fallback.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard import _command
from shipyard._uv import find_uv
from shipyard.testing._projects import Project

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[1] / "src"

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "wheelpkg"
version = "0.2.0"
requires-python = ">=3.11"
dependencies = ["iniconfig"]

[dependency-groups]
plain = []
six = ["six"]
"""

NOXFILE = f"""\
import sys
sys.path.insert(0, {str(SRC)!r})

import nox
import shipyard.nox


@shipyard.nox.session(groups=["plain"], wheel=True, venv_backend="uv|virtualenv")
def wheel(session):
    session.run("python", "-c", "import wheelpkg, iniconfig; print('FROM', wheelpkg.__file__)")


@shipyard.nox.session(groups=["plain"])
def editable(session):
    session.run("python", "-c", "import wheelpkg; print('FROM', wheelpkg.__file__)")


@shipyard.nox.session(groups=lambda p: [p["flavor"]], install_project=False)
@nox.parametrize("flavor", ["plain", "six"])
def variant(session, flavor):
    session.run("python", "-c", "import importlib.util as u; print('SIX', u.find_spec('six') is not None)")
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "wheelpkg"
    (root / "src" / "wheelpkg").mkdir(parents=True)
    (root / "src" / "wheelpkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "noxfile.py").write_text(NOXFILE)
    proj = Project(root)
    proj.lock()
    return proj


def _build(project: Project) -> None:
    _command.run([str(find_uv()), "build", "--wheel", "--out-dir", "dist", "--quiet"], cwd=project.root)


def test_wheel_session_needs_the_built_wheel_and_installs_it_not_the_source(project: Project) -> None:
    missing = project.nox("-s", "wheel")
    assert missing.returncode != 0
    assert "no wheel of wheelpkg 0.2.0 in" in missing.output
    assert "run `nox -s build` first" in missing.output

    _build(project)
    first = project.nox("-s", "wheel")
    assert first.returncode == 0, first.output
    assert "installed wheelpkg-0.2.0-py3-none-any.whl" in first.output
    (line,) = [line for line in first.output.splitlines() if line.startswith("FROM ")]
    assert "site-packages" in line
    assert str(project.root / "src") not in line

    second = project.nox("-s", "wheel")
    assert second.returncode == 0, second.output
    assert "already installed" in second.output

    editable = project.nox("-s", "editable")
    assert editable.returncode == 0, editable.output
    assert f"FROM {project.root / 'src' / 'wheelpkg' / '__init__.py'}" in editable.output


def test_groups_follow_the_parametrize_value(project: Project) -> None:
    result = project.nox("-s", "variant")
    assert result.returncode == 0, result.output
    assert "--only-group plain" in result.output
    assert "--only-group six" in result.output
    assert [line for line in result.output.splitlines() if line.startswith("SIX")] == ["SIX False", "SIX True"]


def test_a_backend_without_uv_is_refused_with_the_reason(project: Project) -> None:
    noxfile = project.root / "noxfile.py"
    noxfile.write_text(
        noxfile.read_text()
        + textwrap.dedent(
            """
            @shipyard.nox.session(venv_backend="virtualenv")
            def unlocked(session):
                pass
            """
        )
    )
    result = project.nox("-l")
    assert result.returncode != 0
    assert "sessions are synced from uv.lock, which needs uv" in result.output
