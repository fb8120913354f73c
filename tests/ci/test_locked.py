"""Every generated `uv run` is `uv run --locked`: a stale uv.lock fails the job and is never rewritten."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shipyard.ci import CI_WORKFLOW, DEPLOY_WORKFLOW, generate

from .conftest import DEPLOYING_CONFIG, MakeProject

NOXFILE = """
import nox

@nox.session
def lint(session):
    pass

@nox.session(venv_backend="none")
def lock(session):
    session.run("uv", "lock", "--locked", external=True)
"""


def _commands(root: Path, path: str) -> dict[str, list[str]]:
    jobs = yaml.safe_load((root / path).read_text())["jobs"]
    return {jid: [s["run"] for s in job["steps"] if "uv run" in s.get("run", "")] for jid, job in jobs.items()}


def test_every_uv_run_in_every_generated_job_is_locked(make_project: MakeProject) -> None:
    root = make_project(
        NOXFILE,
        DEPLOYING_CONFIG.replace('setup-sessions = ["tests"]\n', "").replace('junit-sessions = ["tests"]\n', ""),
    )
    generate(root)
    for path in (CI_WORKFLOW, DEPLOY_WORKFLOW):
        for line in (root / path).read_text().splitlines():
            if "uv run" in line:
                assert "uv run --locked " in line, (path, line)
    assert _commands(root, CI_WORKFLOW)["lock"] == ["uv run --locked nox -s lock"]


def test_the_lock_jobs_command_fails_on_a_stale_lock_and_leaves_it_unchanged(make_project: MakeProject) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (ci/install-uv.sh installs it)")
    root = make_project(NOXFILE)
    generate(root)
    env = {k: v for k, v in os.environ.items() if k not in ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")}
    subprocess.run([uv, "lock", "--offline"], cwd=root, check=True, capture_output=True, env=env)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0"', 'version = "1"'))  # the lock is now stale
    lock = (root / "uv.lock").read_bytes()
    (command,) = _commands(root, CI_WORKFLOW)["lock"]
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", command], cwd=root, capture_output=True, text=True, check=False, env=env
    )
    assert done.returncode != 0
    assert "needs to be updated" in done.stderr, done.stderr  # uv's own one line
    assert (root / "uv.lock").read_bytes() == lock
    # The guard above can fail: without --locked the same command rewrites the lock.
    plain = command.replace(" --locked", "")
    subprocess.run(["bash", "-c", plain], cwd=root, capture_output=True, text=True, check=False, env=env)
    assert (root / "uv.lock").read_bytes() != lock


@pytest.mark.parametrize(
    "setup",
    ["uv run python prepare.py", "uv sync && bash ci/bootstrap.sh", "bash x.sh; uv   run --no-dev nox -s prep"],
)
def test_a_setup_command_that_would_relock_is_refused_in_one_line(make_project: MakeProject, setup: str) -> None:
    from shipyard._errors import ConfigError

    root = make_project(NOXFILE, f"[tool.shipyard.ci]\nsetup = {setup!r}\n")
    with pytest.raises(ConfigError, match=r"tool\.shipyard\.ci\.setup: .*--locked") as info:
        generate(root)
    assert "\n" not in str(info.value)
    assert not (root / CI_WORKFLOW).exists()


@pytest.mark.parametrize(
    "setup", ["uv run --locked python prepare.py", "uv sync --frozen", "UV_LOCKED=1 uv run x", "bash ci/bootstrap.sh"]
)
def test_a_locked_setup_command_is_taken(make_project: MakeProject, setup: str) -> None:
    root = make_project(NOXFILE, f'[tool.shipyard.ci]\nsetup = {setup!r}\nsetup-sessions = ["lint"]\n')
    generate(root)
    assert setup in (root / CI_WORKFLOW).read_text()
