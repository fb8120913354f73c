"""How a project depends on Shipyard (README, "How to depend on Shipyard"): the committed-wheel form keeps the
lock valid when the project is cloned somewhere else.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard import _command
from shipyard._uv import find_uv

from .conftest import Fixture, clean_env

pytestmark = pytest.mark.slow


def _uv(root: Path, *args: str) -> _command.Result:
    return _command.run([str(find_uv()), *args], cwd=root, env=clean_env(), inherit_env=False, check=False)


def test_a_vendored_wheel_keeps_the_lock_valid_at_another_path(
    fixture_project: Callable[[str], Fixture], tmp_path: Path
) -> None:
    project = fixture_project("library")
    (project.root / "vendor").mkdir()
    shutil.copy(project.wheel, project.root / "vendor" / project.wheel.name)
    vendored = Fixture(project.root, project.root / "vendor" / project.wheel.name)  # an absolute path inside
    result = vendored.init()
    assert result.returncode == 0, result.output
    pyproject = (project.root / "pyproject.toml").read_text()
    assert f'shipyard = {{ path = "vendor/{project.wheel.name}" }}' in pyproject
    assert "valid on this machine only" not in result.output

    elsewhere = tmp_path / "another-machine" / "library"
    shutil.copytree(project.root, elsewhere, ignore=shutil.ignore_patterns(".venv", ".nox"))
    shutil.rmtree(project.root)  # the original location is gone, as on another machine
    locked = _uv(elsewhere, "lock", "--locked")
    assert locked.returncode == 0, locked.output
    version = _uv(elsewhere, "run", "--locked", "shipyard", "--version")
    assert version.returncode == 0, version.output
    assert version.output.strip().splitlines()[-1] == "0.1.0"


def test_a_wheel_outside_the_project_is_flagged(fixture_project: Callable[[str], Fixture]) -> None:
    project = fixture_project("library")
    result = project.init("--no-workflows")
    assert result.returncode == 0, result.output
    assert "valid on this machine only" in result.output


def test_a_git_url_locks_to_one_commit_and_installs(fixture_project: Callable[[str], Fixture], tmp_path: Path) -> None:
    source = tmp_path / "shipyard-src"
    _command.run(["git", "clone", "--quiet", str(Path(__file__).resolve().parents[2]), str(source)])
    commit = _command.run(["git", "rev-parse", "HEAD"], cwd=source).output.strip()
    project = fixture_project("library")
    result = project.init("--no-workflows", "--shipyard", f"shipyard @ git+file://{source}")
    assert result.returncode == 0, result.output
    assert f'shipyard = {{ git = "file://{source}" }}' in (project.root / "pyproject.toml").read_text()
    assert commit in (project.root / "uv.lock").read_text()  # pinned to the commit, on every machine
    version = _uv(project.root, "run", "--locked", "shipyard", "--version")
    assert version.returncode == 0, version.output


class _Dist:
    def __init__(self, text: str) -> None:
        self.text = text

    def read_text(self, name: str) -> str:
        return self.text


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        ('{"url": "https://github.com/acme/shipyard", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}',
         "shipyard @ git+https://github.com/acme/shipyard@abc123"),
        ('{"url": "file:///srv/wheels/shipyard-0.1.0-py3-none-any.whl", "archive_info": {}}',
         "/srv/wheels/shipyard-0.1.0-py3-none-any.whl"),
        ("", "shipyard"),
    ],
)  # fmt: skip
def test_the_default_is_where_the_running_shipyard_came_from(
    monkeypatch: pytest.MonkeyPatch, direct_url: str, expected: str
) -> None:
    from importlib import metadata

    from shipyard._init._cli import default_shipyard_requirement

    monkeypatch.setattr(metadata, "distribution", lambda name: _Dist(direct_url))
    assert default_shipyard_requirement() == expected


def test_from_a_checkout_the_default_is_refused_not_guessed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare ``shipyard`` would be resolved from PyPI (another project, or none); a path breaks other machines."""
    from importlib import metadata

    from shipyard._errors import ConfigError
    from shipyard._init._cli import default_shipyard_requirement

    monkeypatch.setattr(
        metadata,
        "distribution",
        lambda name: _Dist('{"url": "file:///home/me/shipyard", "dir_info": {"editable": true}}'),
    )
    with pytest.raises(ConfigError, match=r"runs from a checkout \(/home/me/shipyard\).*--shipyard"):
        default_shipyard_requirement()
