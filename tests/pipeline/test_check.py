"""``invoke check`` on a small fixture project: the real nox sessions, cached, with --plan/--explain/--keep-going."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shipyard.testing import make_check_project

INVOKE = str(Path(sys.executable).parent / "invoke")


def _check(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")}
    return subprocess.run(
        [INVOKE, "check", *args], cwd=root, capture_output=True, text=True, env={**env, "CI": "true"}, check=False
    )


def _states(root: Path) -> dict[str, tuple[str, str]]:
    report = json.loads((root / ".shipyard" / "runs" / "latest.json").read_text())
    return {s["name"]: (s["state"], s["cache"]) for s in report["stages"]}


def test_check_runs_sessions_then_hits_the_cache(tmp_path: Path) -> None:
    root = make_check_project(tmp_path / "proj")
    first = _check(root)
    assert first.returncode == 0, first.stderr
    assert _states(root) == dict.fromkeys(("lint", "typecheck", "tests", "build"), ("passed", "miss"))
    (root / "dist" / "app.whl").unlink()
    second = _check(root)
    assert second.returncode == 0, second.stderr
    assert _states(root) == dict.fromkeys(("lint", "typecheck", "tests", "build"), ("cached", "hit"))
    assert (root / "dist" / "app.whl").read_text() == "whl"  # build's output restored

    (root / "src" / "app.py").write_text("VALUE = 2\n")
    third = _check(root, "--explain")
    assert "lint: cache miss: file src/app.py changed" in third.stderr
    forced = _check(root, "--no-cache")
    assert forced.returncode == 0
    assert {cache for _, cache in _states(root).values()} == {"forced"}


def test_failing_session_fails_fast_with_its_output(tmp_path: Path) -> None:
    root = make_check_project(tmp_path / "proj", failing="typecheck")
    result = _check(root)
    assert result.returncode == 1
    assert "FAILED typecheck" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("invoke: error: stage 'typecheck' failed: ")
    assert _states(root)["build"][0] in ("skipped", "cancelled")


def test_keep_going_runs_the_other_sessions(tmp_path: Path) -> None:
    root = make_check_project(tmp_path / "proj", failing="lint")
    result = _check(root, "--keep-going")
    assert result.returncode == 1
    states = _states(root)
    assert states["typecheck"][0] == states["tests"][0] == "passed"
    assert states["build"][0] == "skipped"


def test_plan_prints_the_graph_without_running(tmp_path: Path) -> None:
    root = make_check_project(tmp_path / "proj")
    result = _check(root, "--plan")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "pipeline check: 4 stages"
    assert lines[4].startswith("build [cpu, cached]  (after: lint, typecheck, tests;")
    assert not (root / ".shipyard").exists()


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    root = make_check_project(tmp_path / "proj")
    (root / "pyproject.toml").write_text('[tool.shipyard.check]\nparalel = ["lint"]\n')
    result = _check(root)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"invoke: error: {root / 'pyproject.toml'}: tool.shipyard.check.paralel: unknown key 'paralel'; "
        "allowed keys are: env, files, light, outputs, parallel, then"
    ]
