"""`shipyard init` through the real CLI on fixture projects: what it writes, what it never touches, its errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard import _command

from ._projects import EXISTING_NOXFILE, EXISTING_WORKFLOW
from .conftest import SHIPYARD, Fixture, clean_env

pytestmark = pytest.mark.slow


def test_writes_what_is_missing_and_a_second_run_changes_nothing(fixture_project: Callable[[str], Fixture]) -> None:
    project = fixture_project("flask_app")
    first = project.init()
    assert first.returncode == 0, first.output
    for path in ("noxfile.py", "tasks.py", "Dockerfile", ".dockerignore", ".gitignore", "uv.lock"):
        assert (project.root / path).is_file(), path
        assert f" {path}" in first.output
    assert (project.root / ".github/workflows/ci.yml").is_file()
    assert "uv run --locked nox -s tests" in first.output
    assert "uv run --locked invoke deploy --env local" in first.output
    data = tomllib.loads((project.root / "pyproject.toml").read_text())
    assert any(dep.startswith("gunicorn") for dep in data["project"]["dependencies"])
    assert data["tool"]["shipyard"]["environments"]["local"]["port"] not in {5000, 8080}
    assert ".shipyard/" in (project.root / ".gitignore").read_text().splitlines()
    lock = (project.root / "uv.lock").read_text()
    assert 'name = "gunicorn"' in lock
    assert 'name = "shipyard"' in lock

    before = project.snapshot()
    second = project.init()
    assert second.returncode == 0, second.output
    assert "nothing to change" in second.output
    assert project.snapshot() == before
    as_json = project.init("--json")
    assert as_json.returncode == 0, as_json.output
    data = json.loads(as_json.output[as_json.output.index("{") :])
    assert data["next"] == ["uv run --locked nox -s tests", "uv run --locked invoke deploy --env local"]
    assert {line[0] for line in data["lines"]} <= {"kept", "note"}
    assert project.snapshot() == before


def test_existing_files_are_kept_and_reported(fixture_project: Callable[[str], Fixture]) -> None:
    project = fixture_project("existing")
    result = project.init()
    assert result.returncode == 0, result.output
    assert (project.root / "noxfile.py").read_text() == EXISTING_NOXFILE.lstrip()
    assert (project.root / ".github/workflows/ci.yml").read_text() == EXISTING_WORKFLOW.lstrip()
    assert sorted(p.name for p in (project.root / ".github/workflows").iterdir()) == ["ci.yml"]
    assert "kept     noxfile.py" in result.output
    assert "hand-written" in result.output
    gitignore = (project.root / ".gitignore").read_text()
    assert gitignore.startswith("*.pyc\n/.venv\n")  # appended to, never replaced
    assert ".shipyard/" in gitignore
    assert gitignore.count(".venv") == 1  # "/.venv" already covers it


def test_diff_shows_and_writes_nothing_force_replaces(fixture_project: Callable[[str], Fixture]) -> None:
    project = fixture_project("existing")
    before = project.snapshot()
    shown = project.init("--diff")
    assert shown.returncode == 0, shown.output
    assert project.snapshot() == before
    assert not (project.root / "uv.lock").exists()
    assert "--- a/noxfile.py" in shown.output
    assert "+import shipyard.nox" in shown.output
    assert "would add to [dependency-groups].dev" in shown.output

    forced = project.init("--force")
    assert forced.returncode == 0, forced.output
    assert "replaced noxfile.py" in forced.output
    assert "import shipyard.nox" in (project.root / "noxfile.py").read_text()


def test_no_pyproject_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _command.run([SHIPYARD, "init"], cwd=tmp_path, env=clean_env(), inherit_env=False, check=False)
    assert result.returncode == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("shipyard: error: no pyproject.toml in")
    assert list(tmp_path.iterdir()) == []


def test_a_lock_that_cannot_be_made_is_one_line_with_uvs_reason(fixture_project: Callable[[str], Fixture]) -> None:
    project = fixture_project("library")
    pyproject = project.root / "pyproject.toml"
    text = pyproject.read_text().replace("dependencies = []", 'dependencies = ["vanished"]')
    text += '\n[tool.uv.sources]\nvanished = { path = "../no-such-dir" }\n'
    pyproject.write_text(text)
    digest = hashlib.sha256(pyproject.read_bytes()).hexdigest()
    result = project.init()
    assert result.returncode == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("shipyard: error: uv.lock cannot be made: ")
    assert "no-such-dir" in lines[0]  # uv's own reason
    assert "Traceback" not in result.output
    assert hashlib.sha256(pyproject.read_bytes()).hexdigest() == digest  # put back as it was
    assert not (project.root / "noxfile.py").exists()
    assert not (project.root / "uv.lock").exists()


def test_invoke_init_runs_the_same_command(fixture_project: Callable[[str], Fixture]) -> None:
    project = fixture_project("library")
    invoke = str(Path(sys.executable).with_name("invoke"))
    argv = [invoke, "--search-root", str(Path(__file__).resolve().parents[2]), "init", "--root", str(project.root),
            "--shipyard", str(project.wheel), "--diff"]  # fmt: skip
    result = _command.run(argv, cwd=project.root, env=clean_env(), inherit_env=False, check=False)
    assert result.returncode == 0, result.output
    assert "+++ b/noxfile.py" in result.output
    assert not (project.root / "noxfile.py").exists()


def test_something_in_the_way_is_one_line_before_anything_is_changed(fixture_project: Callable[[str], Fixture]) -> None:
    """A directory, a dangling symlink where a file goes: left alone and reported; an unwritable file: one line,
    exit 2, and pyproject.toml, uv.lock and every other file as they were (checked before the first edit).
    """
    project = fixture_project("flask_app")
    (project.root / "noxfile.py").mkdir()
    (project.root / "Dockerfile").symlink_to("/nonexistent/Dockerfile")
    gitignore = project.root / ".gitignore"
    gitignore.write_text("*.pyc\n")
    gitignore.chmod(0o444)
    if os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(gitignore)], check=False).returncode != 0:
        pytest.skip("root without chattr +i: a read-only file does not stop root")
    try:
        before = project.snapshot()
        result = project.init()
        assert result.returncode == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("shipyard: error: .gitignore: cannot be written")
        assert project.snapshot() == before
        assert not (project.root / "uv.lock").exists()
    finally:
        subprocess.run(["chattr", "-i", str(gitignore)], check=False, capture_output=True)
        gitignore.chmod(0o644)
    result = project.init()
    assert result.returncode == 0, result.output
    assert "kept     noxfile.py  (not a regular file" in result.output
    assert "kept     Dockerfile  (not a regular file" in result.output
    assert (project.root / "noxfile.py").is_dir()
    assert (project.root / "Dockerfile").is_symlink()
    forced = project.init("--force")
    assert forced.returncode == 2
    assert forced.output.strip().startswith("shipyard: error: noxfile.py: not a regular file")
