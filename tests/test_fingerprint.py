"""What changes a session environment's fingerprint, and what does not."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from shipyard import SyncError, _fingerprint
from shipyard._fingerprint import (
    Fingerprint,
    Selection,
    compute,
    missing_installed,
    read_recorded,
    record,
    uv_version,
)

PYPROJECT = """\
[project]
name = "demo"
version = "1.0.0"
requires-python = ">=3.11"
dependencies = ["six"]

[dependency-groups]
lint = ["ruff"]
test = ["pytest"]

[tool.uv.workspace]
members = ["packages/*"]

[tool.ruff]
line-length = 100
"""

MEMBER = """\
[project]
name = "member"
version = "0.1.0"
dependencies = ["idna"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "uv.lock").write_text("version = 1\n# lock v1\n")
    member = tmp_path / "packages" / "member"
    member.mkdir(parents=True)
    (member / "pyproject.toml").write_text(MEMBER)
    venv = tmp_path / ".nox" / "lint"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.7\n")
    (venv / "bin" / "python").symlink_to(sys.executable)
    fake_uv(tmp_path / "uv", "0.1.0")
    return tmp_path


def fake_uv(path: Path, version: str) -> Path:
    """An executable that answers `--version` the way uv does (the fingerprint asks the binary itself)."""
    path.write_text(f"#!/bin/sh\necho 'uv {version} (fixture)'\n")
    path.chmod(0o755)
    return path


LINT = Selection(groups=("lint",))


def fp(root: Path, selection: Selection = LINT) -> Fingerprint:
    return compute(root, selection, root / ".nox" / "lint", root / "uv")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_same_inputs_give_the_same_fingerprint(project: Path) -> None:
    assert fp(project) == fp(project)
    assert fp(project).changed_parts(fp(project)) == []


def test_a_relock_changes_the_lock_part(project: Path) -> None:
    before = fp(project)
    edit(project / "uv.lock", "lock v1", "lock v2")
    assert fp(project).changed_parts(before) == ["lock"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('lint = ["ruff"]', 'lint = ["ruff", "black"]'),
        ('dependencies = ["six"]', 'dependencies = ["six>=1.16"]'),
        ('version = "1.0.0"', 'version = "1.1.0"'),
        ('requires-python = ">=3.11"', 'requires-python = ">=3.12"'),
        ('members = ["packages/*"]', 'members = ["packages/*"]\nexclude = ["packages/member"]'),
    ],
)
def test_dependency_tables_change_the_project_part(project: Path, old: str, new: str) -> None:
    before = fp(project)
    edit(project / "pyproject.toml", old, new)
    assert fp(project).changed_parts(before) == ["project"]


def test_a_workspace_members_dependencies_count(project: Path) -> None:
    before = fp(project)
    edit(project / "packages" / "member" / "pyproject.toml", '["idna"]', '["idna", "certifi"]')
    assert fp(project).changed_parts(before) == ["project"]


def test_tool_configuration_and_formatting_do_not_count(project: Path) -> None:
    before = fp(project)
    edit(project / "pyproject.toml", "line-length = 100", "line-length = 120\n\n[tool.mypy]\nstrict = true")
    edit(project / "pyproject.toml", 'lint = ["ruff"]', 'lint = [ "ruff" ]  # a comment')
    (project / "README.md").write_text("docs change")
    assert fp(project) == before


@pytest.mark.parametrize(
    "other",
    [
        Selection(groups=("test",)),
        Selection(groups=("lint", "test")),
        Selection(groups=("lint",), extras=("docs",)),
        Selection(groups=("lint",), install_project=False),
        Selection(groups=("lint",), package="member"),
    ],
)
def test_the_selection_counts(project: Path, other: Selection) -> None:
    assert fp(project, other).changed_parts(fp(project)) == ["selection"]


def test_another_interpreter_changes_the_interpreter_part(project: Path) -> None:
    before = fp(project)
    edit(project / ".nox" / "lint" / "pyvenv.cfg", "3.11.7", "3.12.1")
    assert fp(project).changed_parts(before) == ["interpreter"]


def test_another_uv_version_changes_the_uv_part(project: Path) -> None:
    before = fp(project)
    time.sleep(0.01)
    fake_uv(project / "uv", "0.2.0-upgraded")
    assert fp(project).changed_parts(before) == ["uv"]


def test_another_binary_of_the_same_uv_version_is_the_same_environment(project: Path) -> None:
    # `uv run nox` exports $UV (the uv that runs it), `.venv/bin/nox` finds the locked uv beside it.
    other = fake_uv(project / "elsewhere-uv", "0.1.0")
    assert compute(project, LINT, project / ".nox" / "lint", other) == fp(project)
    versions = json.loads((project / ".nox" / ".shipyard-uv.json").read_text())
    assert sorted(set(versions.values())) == ["0.1.0"]
    assert len(versions) == 2  # each binary asked once, then known by its identity


def test_a_uv_version_is_asked_once_per_binary(project: Path) -> None:
    fp(project)
    cache = project / ".nox" / ".shipyard-uv.json"
    cache.write_text(cache.read_text().replace('"0.1.0"', '"9.9.9"'))
    _fingerprint._uv_versions.clear()  # a new process: only the file remembers
    assert uv_version(project / "uv", project / ".nox") == "9.9.9"


def test_a_record_lists_what_was_installed_and_a_lost_entry_is_missing(project: Path) -> None:
    venv = project / ".nox" / "lint"
    (venv / "bin" / "ruff").write_text("#!/bin/sh\n")
    record(venv, fp(project))
    assert missing_installed(venv) == []
    (venv / "bin" / "ruff").unlink()
    assert missing_installed(venv) == ["bin/ruff"]


def test_missing_lock_says_to_run_uv_lock(project: Path) -> None:
    (project / "uv.lock").unlink()
    with pytest.raises(SyncError, match=r"uv\.lock does not exist: run `uv lock`"):
        fp(project)


def test_record_round_trips_and_a_corrupt_record_reads_as_none(project: Path) -> None:
    venv = project / ".nox" / "lint"
    assert read_recorded(venv) is None
    record(venv, fp(project))
    assert read_recorded(venv) == fp(project)
    assert fp(project).changed_parts(None) == ["lock", "project", "selection", "interpreter", "uv"]
    (venv / ".shipyard-sync.json").write_text("{not json")
    assert read_recorded(venv) is None
    shutil.rmtree(venv)
    assert read_recorded(venv) is None
