"""Fixtures for `shipyard init` tests: Shipyard as a wheel built once per session, and a runner for the real CLI.

A fixture project depends on Shipyard the way the README documents: ``uv add --dev <the built wheel>``, a path
source, so no test fetches Shipyard itself from the network (its dependencies come from uv's cache or PyPI).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard import _command
from shipyard._command import Result
from shipyard._uv import find_uv

from ._projects import write

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
#: Variables of the outer session that would leak into a fixture project's uv and nox runs.
_DROP = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "NOX_CURRENT_SESSION", "UV_FROZEN", "UV_LOCKED", "PYTEST_ADDOPTS"}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _DROP and not k.startswith("PYTEST_")}


@pytest.fixture(scope="session")
def shipyard_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout of Shipyard as a wheel (what `uv build` makes and the README tells users to depend on)."""
    out = tmp_path_factory.mktemp("shipyard-wheel")
    _command.run([str(find_uv()), "build", "--wheel", "--out-dir", str(out), "--quiet", str(REPO_ROOT)], cwd=REPO_ROOT)
    (wheel,) = out.glob("shipyard-*.whl")
    return wheel


@dataclass(frozen=True)
class Fixture:
    root: Path
    wheel: Path

    def init(self, *args: str) -> Result:
        """Run the real `shipyard init` in the project (with the session's wheel as the Shipyard to depend on)."""
        argv = [SHIPYARD, "init", "--shipyard", str(self.wheel), *args]
        return _command.run(argv, cwd=self.root, env=clean_env(), inherit_env=False, check=False)

    def uv_run(self, *args: str, timeout: float = 600) -> Result:
        argv = [str(find_uv()), "run", "--locked", *args]
        return _command.run(argv, cwd=self.root, env=clean_env(), inherit_env=False, check=False, timeout=timeout)

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the project but the tool directories, by path: what a second run must leave alone."""
        skip = {".venv", ".nox", ".shipyard", "dist", "__pycache__", ".git", ".pytest_cache", ".mypy_cache"}
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and not skip & set(p.relative_to(self.root).parts)
        }


@pytest.fixture
def fixture_project(tmp_path: Path, shipyard_wheel: Path) -> Callable[[str], Fixture]:
    def make(name: str) -> Fixture:
        return Fixture(write(name, tmp_path / name), shipyard_wheel)

    return make
