"""``invoke check`` on a small fixture project: the real nox sessions, cached, with --plan/--explain/--keep-going."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shipyard.testing import make_check_project, make_flat_project

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
    assert not (root / ".shipyard" / "runs").exists()  # nothing ran (only nox's session list is cached)


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    root = make_check_project(tmp_path / "proj")
    (root / "pyproject.toml").write_text('[tool.shipyard.check]\nparalel = ["lint"]\n')
    result = _check(root)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"invoke: error: {root / 'pyproject.toml'}: tool.shipyard.check.paralel: unknown key 'paralel'; "
        "allowed keys are: env, files, light, outputs, parallel, session-files, then"
    ]


def test_flat_layout_breaking_change_fails_and_explain_names_unrelated_paths(tmp_path: Path) -> None:
    root = make_flat_project(tmp_path / "flat")
    first = _check(root)
    assert first.returncode == 0, first.stderr
    assert _states(root) == {"lint": ("passed", "miss"), "tests": ("passed", "miss")}  # what the noxfile defines
    assert _check(root).returncode == 0
    assert _states(root) == {"lint": ("cached", "hit"), "tests": ("cached", "hit")}

    (root / "app" / "__init__.py").write_text("def add(a, b):\n    return a - b\n")  # breaks test_add
    broken = _check(root, "--explain")
    assert broken.returncode == 1
    assert "tests: cache miss: file app/__init__.py changed" in broken.stderr
    assert "stage 'tests' failed" in broken.stderr
    assert _states(root)["tests"] == ("failed", "miss")

    (root / "app" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    assert _check(root).returncode == 0
    (root / "build").mkdir()
    (root / "build" / "junk.txt").write_text("ignored by git\n")
    (root / "run.log").write_text("ignored by git\n")
    assert _check(root).returncode == 0
    assert _states(root)["tests"] == ("cached", "hit")  # ignored files are not inputs

    (root / "NOTES.md").write_text("an untracked, not ignored file\n")
    (root / "tests" / "test_app.py").write_text((root / "tests" / "test_app.py").read_text() + "\n")
    explained = _check(root, "--explain")
    assert explained.returncode == 0, explained.stderr
    assert "tests: cache miss: file NOTES.md was added, file tests/test_app.py changed" in explained.stderr
    assert "tests: hashed 8 files, uv.lock " in explained.stderr


def test_check_config_is_validated_before_anything_runs(tmp_path: Path) -> None:
    root = make_flat_project(tmp_path / "flat")
    pyproject = root / "pyproject.toml"
    base = pyproject.read_text()
    cases = {
        "parallel = [1]": "tool.shipyard.check.parallel: must be a list of session names (strings), got [1]",
        "outputs = {lint = 5}": "tool.shipyard.check.outputs.lint: must be a list of globs, or one glob string, got 5",
        'then = ["typecheck"]': "tool.shipyard.check.then: 'typecheck' is not a session `nox -l` lists "
        "(sessions: lint, tests); fix the name or the noxfile",
        'env = ["NOT-A-NAME"]': "tool.shipyard.check.env: 'NOT-A-NAME' is not an environment variable name",
        'files = "src/**"': "tool.shipyard.check.files: must be list, got str 'src/**'",
        'outputs = {lint = "../x"}': "tool.shipyard.check.outputs.lint: '../x' must be a glob relative to the "
        "project root",
        'parallel = ["tests"]\nthen = ["tests"]': "tool.shipyard.check.then: 'tests' is in both parallel and then",
    }
    for line, message in cases.items():
        pyproject.write_text(base + "\n[tool.shipyard.check]\n" + line + "\n")
        result = _check(root)
        assert result.returncode == 2, (line, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (line, result.stderr)
        assert lines[0].startswith(f"invoke: error: {pyproject}: {message}"), (line, lines[0])
        assert not (root / ".shipyard" / "runs").exists()


def test_a_session_nox_skips_is_not_a_pass(tmp_path: Path) -> None:
    root = make_flat_project(tmp_path / "flat")
    noxfile = root / "noxfile.py"
    noxfile.write_text(
        noxfile.read_text() + "\n\n@nox.session(venv_backend='none')\ndef docs(session):\n"
        "    session.skip('sphinx is not installed')\n"
    )
    result = _check(root)
    assert result.returncode == 1
    assert (
        "stage 'docs' failed: nox skipped session docs: sphinx is not installed; a skipped session is not a pass"
        in (result.stderr)
    )
    assert _states(root)["docs"] == ("failed", "miss")
    again = _check(root)
    assert again.returncode == 1  # never cached as a pass
    assert _states(root)["docs"] == ("failed", "miss")


def test_a_session_keyed_on_its_own_files_reruns_when_the_noxfile_changes(tmp_path: Path) -> None:
    """The noxfile holds every session's commands: a session narrowed to its own files (the documented
    ``session-files = { lint = ["src/**/*.py"] }``) is not proven by a run of other commands (a stricter lint, a
    session now failing)."""
    root = make_check_project(tmp_path / "proj")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'session-files = { lint = ["src/**/*.py"] }\n')
    first = _check(root, "--only", "lint")
    assert first.returncode == 0, first.stderr
    assert _check(root, "--only", "lint").returncode == 0
    assert _states(root)["lint"] == ("cached", "hit")
    noxfile = root / "noxfile.py"
    noxfile.write_text(noxfile.read_text().replace("print('session lint ran')", "raise SystemExit('lint now fails')"))
    changed = _check(root, "--only", "lint")
    assert _states(root)["lint"][1] != "hit"
    assert changed.returncode != 0, changed.stderr


def test_this_repositorys_narrowed_sessions_key_every_file_their_tools_read(tmp_path: Path) -> None:
    """[tool.shipyard.check.session-files] in this repository's pyproject.toml, against the files each tool reads
    (its configuration, wherever the tool looks for it): a change to any of them must not leave the session
    proven."""
    import tomllib

    from shipyard.pipeline._cache import hash_files
    from shipyard.tasks._check import NOXFILE

    table = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    narrowed = table["tool"]["shipyard"]["check"]["session-files"]
    reads = {
        # Ruff: sources and notebooks, its configuration files, the ignore files it respects.
        "lint": [
            "src/a.py", "a.pyi", "nb.ipynb", "pyproject.toml", "sub/ruff.toml", ".ruff.toml", ".gitignore", ".ignore",
        ],
        # Mypy: sources, stubs, markers, and every file it takes its configuration from (mypy.ini first).
        "typecheck": ["src/a.py", "a.pyi", "src/py.typed", "pyproject.toml", "mypy.ini", ".mypy.ini", "setup.cfg"],
        # uv lock --locked: every member's pyproject.toml, uv's configuration, the pinned interpreter, the noxfile
        # and the modules it imports to find uv.
        "lock": ["pyproject.toml", "sub/pyproject.toml", "uv.toml", ".python-version", "src/shipyard/_uv.py"],
        # ci check (the generator, in Python, reads pyproject and the noxfile), zizmor, the schemas, actionlint.
        "workflows": [
            "src/a.py", "pyproject.toml", ".github/workflows/ci.yml", ".github/zizmor.yml", "zizmor.yml",
            ".github/actionlint.yaml", "action.yml", "ci/install-actionlint.sh", "ci/actionlint/lint.cjs",
            "ci/actionlint/package-lock.json", "ci/actionlint/package.json",
        ],
    }  # fmt: skip
    assert set(narrowed) == set(reads)
    for session, files in reads.items():
        for rel in [*files, NOXFILE]:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(rel)
        keyed = hash_files(tmp_path, (*narrowed[session], NOXFILE))
        assert [rel for rel in [*files, NOXFILE] if rel not in keyed] == [], session
