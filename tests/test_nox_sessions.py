"""Real nox on a real uv project in a temp dir: lockfile-bound sessions are fast when warm and never stale."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shipyard import _command
from shipyard.testing._projects import Project, make_project

pytestmark = pytest.mark.slow

IMPORT_CHECK = ["python", "-c", "import sys, importlib; [importlib.import_module(m) for m in sys.argv[1:]]"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(
        tmp_path / "proj",
        groups={"check": ["iniconfig"], "other": ["six"]},
        sessions={"check": (["check"], [*IMPORT_CHECK, "iniconfig"])},
    )
    proj.lock()
    return proj


def test_first_run_syncs_and_second_run_skips_the_sync(project: Project) -> None:
    first = project.nox("-s", "check")
    assert first.returncode == 0, first.output
    assert "shipyard: new environment; uv sync --locked" in first.output
    record = project.venv("check") / ".shipyard-sync.json"
    recorded_at = record.stat().st_mtime_ns

    second = project.nox("-s", "check")
    assert second.returncode == 0, second.output
    assert "sync skipped" in second.output
    assert "uv sync" not in second.output
    assert record.stat().st_mtime_ns == recorded_at  # nothing was rewritten


def test_a_new_dependency_after_relock_is_importable_on_the_next_plain_run(project: Project) -> None:
    assert project.nox("-s", "check").returncode == 0
    project.set_group("check", ["iniconfig", "six"])
    project.lock()
    text = (project.root / "noxfile.py").read_text().replace("'iniconfig']", "'iniconfig', 'six']")
    (project.root / "noxfile.py").write_text(text)

    result = project.nox("-s", "check")
    assert result.returncode == 0, result.output
    assert "lock, project changed; uv sync --locked" in result.output
    assert "python -c" in result.output  # the session ran its import of both packages, and it succeeded


def test_a_stale_lock_fails_with_one_line_saying_run_uv_lock(project: Project) -> None:
    assert project.nox("-s", "check").returncode == 0
    project.set_group("check", ["iniconfig", "six"])  # pyproject changed, lock not updated

    result = project.nox("-s", "check")
    assert result.returncode != 0
    lines = [line for line in result.output.splitlines() if "uv.lock is out of date" in line]
    assert lines == [
        "nox > Session check aborted: uv.lock is out of date with pyproject.toml: run `uv lock` and commit uv.lock."
    ], result.output
    assert "Traceback" not in result.output


def test_an_unknown_group_fails_clearly(tmp_path: Path) -> None:
    proj = make_project(
        tmp_path / "proj", groups={"check": ["iniconfig"]}, sessions={"check": (["chek"], ["python", "-V"])}
    )
    proj.lock()
    result = proj.nox("-s", "check")
    assert result.returncode != 0
    assert "session 'check' names dependency group 'chek', which pyproject.toml [dependency-groups] does not" in (
        result.output
    )
    assert "(defined: check)" in result.output
    assert "Traceback" not in result.output


def test_removing_a_package_from_the_group_removes_it_from_the_venv(project: Project) -> None:
    project.set_group("check", ["iniconfig", "six"])
    project.lock()
    assert project.nox("-s", "check").returncode == 0
    project.set_group("check", ["iniconfig"])
    project.lock()
    assert project.nox("-s", "check").returncode == 0
    site = next((project.venv("check") / "lib").glob("python*/site-packages"))
    assert not list(site.glob("six*")), "exact sync should remove packages the lock no longer selects"


def test_dash_capital_r_skips_the_sync_as_nox_promises(project: Project) -> None:
    assert project.nox("-s", "check").returncode == 0
    project.set_group("check", ["iniconfig", "six"])
    project.lock()
    result = project.nox("-R", "-s", "check")
    assert result.returncode == 0, result.output
    assert "-R/--no-install skips the sync" in result.output
    assert "uv sync" not in result.output


def test_alternating_uv_run_and_venv_nox_does_not_resync(project: Project) -> None:
    # `uv run --locked nox` exports $UV (the uv running it) and puts .venv/bin first on PATH; `.venv/bin/nox` finds
    # the locked uv beside nox. Two binaries of one uv version are one environment: neither re-syncs the other.
    repo = Path(__file__).resolve().parents[1]
    noxfile = str(project.root / "noxfile.py")
    env = {k: v for k, v in project.env().items() if k != "UV"}
    via_uv_run = ["uv", "run", "--locked", "--project", str(repo), "nox", "--noxfile", noxfile, "-s", "check"]
    direct = [str(Path(sys.executable).parent / "nox"), "--noxfile", noxfile, "-s", "check"]
    first = _command.run(direct, cwd=project.root, env=env, inherit_env=False, check=False)
    assert first.returncode == 0, first.output
    assert "new environment" in first.output
    for argv in (via_uv_run, direct, via_uv_run, direct):
        result = _command.run(argv, cwd=project.root, env=env, inherit_env=False, check=False)
        assert result.returncode == 0, result.output
        assert "sync skipped" in result.output, result.output
        assert "uv sync" not in result.output


@pytest.mark.parametrize("flag", ["--reuse-venv=no", "--reuse-venv=never", "-N", "--no-reuse-existing-virtualenvs"])
def test_nox_reuse_flags_asking_for_a_fresh_venv_are_honoured(project: Project, flag: str) -> None:
    assert project.nox("-s", "check").returncode == 0
    marker = project.venv("check") / "marker-from-the-last-run"
    marker.write_text("")
    fresh = project.nox(flag, "-s", "check")
    assert fresh.returncode == 0, fresh.output
    assert not marker.exists()  # the venv was recreated
    assert "shipyard: new environment; uv sync --locked" in fresh.output
    marker.write_text("")
    reused = project.nox("-s", "check")  # no flag: reused, as before
    assert "sync skipped" in reused.output
    assert marker.exists()
    assert "sync skipped" in project.nox("--reuse-venv=yes", "-s", "check").output


def test_a_deleted_tool_binary_is_resynced(tmp_path: Path) -> None:
    proj = make_project(
        tmp_path / "proj",
        groups={"tool": ["pygments"]},
        sessions={"tool": (["tool"], ["pygmentize", "-V"])},
    )
    proj.lock()
    assert proj.nox("-s", "tool").returncode == 0
    (proj.venv("tool") / "bin" / "pygmentize").unlink()
    healed = proj.nox("-s", "tool")
    assert healed.returncode == 0, healed.output
    assert "the environment lost bin/pygmentize, which its last sync installed" in healed.output
    assert "Pygments version" in healed.output
    assert "sync skipped" in proj.nox("-s", "tool").output


def test_a_deleted_data_script_binary_is_reinstalled_not_just_resynced(tmp_path: Path) -> None:
    # ruff's binary is a wheel data script, not an entry point: a plain `uv sync` sees ruff installed and checks
    # nothing ("Checked 1 package"), so the binary stayed missing and the record then called the venv healthy.
    proj = make_project(
        tmp_path / "proj",
        groups={"tool": ["ruff==0.17.6"]},
        sessions={"tool": (["tool"], ["ruff", "--version"])},
    )
    proj.lock()
    assert proj.nox("-s", "tool").returncode == 0
    (proj.venv("tool") / "bin" / "ruff").unlink()
    healed = proj.nox("-s", "tool")
    assert healed.returncode == 0, healed.output
    assert "the environment lost bin/ruff, which its last sync installed" in healed.output
    assert "ruff 0.17.6" in healed.output
    again = proj.nox("-s", "tool")
    assert again.returncode == 0, again.output
    assert "sync skipped" in again.output
