"""CI at scale on a fixture library that knows nothing of Shipyard: build once, test that wheel, shard the tests,
combine coverage; generated structurally, then run for real through `shipyard ci run` (real uv, nox, pytest-split
and coverage in the fixture's own locked environment)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard._cli import main
from shipyard._errors import ConfigError
from shipyard.ci import CI_WORKFLOW, NoxSession, check, generate, load_config, render_workflows
from shipyard.ci._model import COVERAGE_JOB, GATE_JOB
from shipyard.ci._plan import ARTIFACTS, plan

from .conftest import MakeProject

LIBRARY_NOXFILE = '''
import glob
import os
import zipfile

import nox

nox.options.sessions = ["lint", "tests", "build"]


@nox.session(venv_backend="none")
def lint(session):
    session.run("python", "-c", "print('lint ok')")


@nox.session(venv_backend="none")
def tests(session):
    """Tests, under coverage; with SHIPYARD_WHEELS, against the built wheel instead of src/."""
    args = list(session.posargs)
    if os.environ.get("CI"):
        args.append("--junitxml=reports/junit-tests.xml")
    env = {}
    wheels = sorted(glob.glob(os.environ.get("SHIPYARD_WHEELS", "")))
    if os.environ.get("SHIPYARD_WHEELS"):
        if not wheels:
            session.error("SHIPYARD_WHEELS matches no wheel")
        target = os.path.abspath(".nox/wheel")
        for wheel in wheels:
            zipfile.ZipFile(wheel).extractall(target)
        env["PYTHONPATH"] = target
        env["EXPECT_FROM"] = target
    session.run("python", "-m", "coverage", "run", "-m", "pytest", *args, env=env)


@nox.session(venv_backend="none")
def build(session):
    session.run("uv", "build", "--wheel", "--out-dir", "dist", external=True)


@nox.session(venv_backend="none", default=False)
def durations(session):
    session.run("python", "-m", "pytest", "--store-durations", "-q")
'''

LIBRARY_PYPROJECT = """
[project]
name = "fxlib"
version = "1.0"
requires-python = ">=3.11"

[build-system]
requires = ["uv_build>=0.8,<0.14"]
build-backend = "uv_build"

[dependency-groups]
dev = ["nox>=2025.5", "pytest>=8", "pytest-split>=0.10", "coverage>=7.6"]

[tool.coverage.run]
source = ["fxlib"]

[tool.coverage.paths]
source = ["src/fxlib", "*/.nox/wheel/fxlib"]

[tool.coverage.report]
fail_under = {fail_under}

[tool.shipyard.ci]
shards = 3
build-session = "build"
wheel-sessions = ["tests"]
junit-sessions = ["tests"]
coverage = true
coverage-group = "dev"
"""

LIBRARY_MODULE = """
def double(x):
    return 2 * x


def never_called():
    return "not covered"
"""


def _test_module(index: int) -> str:
    tests = "\n\n".join(
        f"def test_{index}_{n}():\n    assert fxlib.double({n}) == {2 * n}\n    assert_from_wheel()" for n in range(4)
    )
    return (
        textwrap.dedent(
            """
        import os

        import fxlib


        def assert_from_wheel():
            expected = os.environ.get("EXPECT_FROM")
            if expected:
                assert fxlib.__file__.startswith(expected), fxlib.__file__

        """
        )
        + tests
    )


@pytest.fixture
def library(tmp_path: Path) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (ci/install-uv.sh installs it)")
    root = tmp_path / "fxlib"
    (root / "src/fxlib").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(LIBRARY_PYPROJECT.replace("{fail_under}", "70"))
    (root / "noxfile.py").write_text(LIBRARY_NOXFILE)
    (root / "src/fxlib/__init__.py").write_text(LIBRARY_MODULE)
    for index in range(3):
        (root / f"tests/test_part{index}.py").write_text(_test_module(index))
    # Inside a nox session UV_PROJECT_ENVIRONMENT names the session's venv: the fixture must get its own.
    env = {k: v for k, v in os.environ.items() if k not in ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")}
    subprocess.run([uv, "lock"], cwd=root, check=True, capture_output=True, timeout=300, env=env)
    subprocess.run([uv, "sync", "--locked"], cwd=root, check=True, capture_output=True, timeout=300, env=env)
    return root


def _jobs(root: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((root / CI_WORKFLOW).read_text())["jobs"])


def test_generation_builds_once_shards_and_combines(library: Path) -> None:
    generate(library)
    jobs = _jobs(library)
    assert list(jobs) == ["lint", "tests", "build", COVERAGE_JOB, GATE_JOB]
    tests = jobs["tests"]
    assert tests["needs"] == ["build"]
    assert tests["strategy"]["matrix"] == {"shard": [1, 2, 3]}
    steps = {step.get("name", step.get("uses", "")): step for step in tests["steps"]}
    download = steps["Download the wheel the build job made"]
    assert download["uses"].startswith("actions/download-artifact@")
    assert download["with"] == {"name": "dist", "path": "dist"}
    run = steps["Run the session"]
    assert run["run"] == 'uv run --locked nox -s tests -- --splits 3 --group "$SHARD"'
    assert run["env"] == {
        "SHIPYARD_WHEELS": "dist/*.whl",
        "COVERAGE_FILE": ".coverage.tests-${{ matrix.shard }}",
        "SHARD": "${{ matrix.shard }}",
    }
    assert steps["Upload the JUnit report"]["with"]["name"] == "junit-tests-${{ matrix.shard }}"
    coverage_upload = steps["Upload the coverage data"]["with"]
    assert coverage_upload["include-hidden-files"] is True
    build_upload = [s for s in jobs["build"]["steps"] if s.get("name", "").startswith("Upload dist/")]
    assert build_upload[0]["with"] == {"name": "dist", "path": "dist/", "if-no-files-found": "error"}
    combine = jobs[COVERAGE_JOB]
    assert combine["needs"] == ["tests"]
    assert "coverage combine coverage-data" in str(combine["steps"])
    assert jobs[GATE_JOB]["needs"] == ["lint", "tests", "build", COVERAGE_JOB]
    assert check(library) == []


def _ids_in(report: Path) -> list[str]:
    return [f"{case.get('classname')}::{case.get('name')}" for case in ET.parse(report).iter("testcase")]


@pytest.mark.slow
def test_ci_run_reproduces_every_job_and_the_shards_run_each_test_once(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(library)
    assert main(["ci", "run", "build", "--root", str(library)]) == 0
    assert (library / ARTIFACTS / "dist/fxlib-1.0-py3-none-any.whl").is_file()
    shutil.rmtree(library / "dist")  # the tests must get the wheel from the artifact, as in CI
    for shard in (1, 2, 3):
        assert main(["ci", "run", "tests", "--shard", str(shard), "--root", str(library)]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "skipped actions/checkout" in out
    assert "downloaded dist into dist" in out
    ran = [i for shard in (1, 2, 3) for i in _ids_in(library / ARTIFACTS / f"junit-tests-{shard}/junit-tests.xml")]
    collected = subprocess.run(
        [str(library / ".venv/bin/python"), "-m", "pytest", "--collect-only", "-q"],
        cwd=library,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = sorted(line for line in collected.splitlines() if "::" in line)
    assert len(expected) == 12
    assert len(ran) == len(set(ran)) == 12  # no test ran twice
    assert sorted(i.replace("tests.", "tests/").replace("::", ".py::", 1) for i in ran) == expected
    for shard in (1, 2, 3):
        assert _ids_in(library / ARTIFACTS / f"junit-tests-{shard}/junit-tests.xml")  # no empty shard

    # Coverage from the three shards, measured in the wheel, combined against src/ and held to fail_under.
    assert main(["ci", "run", "coverage", "--root", str(library)]) == 0
    out = capsys.readouterr().out
    combined = sorted(
        p.relative_to(library / ARTIFACTS) for p in (library / ARTIFACTS / "combined-junit").rglob("*.xml")
    )
    # (here reports/ also holds the last shard's own file: on GitHub the combine job starts from a fresh checkout)
    assert {f"combined-junit/junit-tests-{k}/junit-tests.xml" for k in (1, 2, 3)} <= {str(p) for p in combined}
    assert "src/fxlib/__init__.py" in out
    assert "TOTAL" in out
    pyproject = library / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("fail_under = 70", "fail_under = 100"))
    assert main(["ci", "run", "coverage", "--root", str(library)]) != 0
    assert "Coverage failure" in capsys.readouterr().out


def test_plan_prints_each_job_with_its_commands(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci", "plan", "--root", str(library)]) == 0
    out = capsys.readouterr().out
    assert (
        "tests: nox -s tests (shard ${{ matrix.shard }})  (after build)\n  matrix: shard=1; shard=2; shard=3\n" in out
    )
    assert '  $ uv run --locked nox -s tests -- --splits 3 --group "$SHARD"\n' in out
    assert [job.id for job in plan(library)] == ["lint", "tests", "build", COVERAGE_JOB, GATE_JOB]


def test_run_refuses_what_it_cannot_do_in_one_line(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["ci", "run", "nope"], "no job 'nope' in .github/workflows/ci.yml; jobs: lint, tests, build, coverage"),
        (["ci", "run", "tests", "--shard", "4"], "--shard 4: job 'tests' has shards 1..3"),
        (["ci", "run", "lint", "--shard", "1"], "job 'lint' is not sharded; drop --shard"),
        (["ci", "run", GATE_JOB], f"job '{GATE_JOB}' only makes sense on GitHub"),
    ):
        assert main([*argv, "--root", str(library)]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert err.count("\n") == 1
    # A wheel-testing job before the build job ran: one line saying what to run first.
    assert main(["ci", "run", "tests", "--shard", "1", "--root", str(library)]) == 1
    assert "run the job that uploads it first" in capsys.readouterr().out


SESSIONS = [
    NoxSession("lint", "lint"),
    NoxSession("tests-3.11", "tests", "3.11"),
    NoxSession("tests-3.12", "tests", "3.12"),
    NoxSession("docs", "docs"),
]


def test_per_job_options_shape_their_jobs(make_project: MakeProject) -> None:
    root = make_project(
        config="""
        [tool.shipyard.ci]
        shards = 2
        [tool.shipyard.ci.jobs.tests]
        runs-on = ["ubuntu-24.04", "macos-15"]
        posargs = ["-m", "not slow", "--maxfail=3"]
        timeout-minutes = 45
        [tool.shipyard.ci.jobs.lint]
        runs-on = "ubuntu-24.04-arm"
        fetch-depth = 0
        """
    )
    (workflow,) = render_workflows(SESSIONS, load_config(root))
    jobs = yaml.safe_load(workflow.text)["jobs"]
    tests = jobs["tests"]
    assert tests["runs-on"] == "${{ matrix.os }}"
    assert tests["timeout-minutes"] == 45
    assert tests["strategy"]["matrix"] == {
        "python": ["3.11", "3.12"],
        "os": ["ubuntu-24.04", "macos-15"],
        "shard": [1, 2],
    }
    run = next(s for s in tests["steps"] if s.get("name") == "Run the session")
    assert (
        run["run"] == 'uv run --locked nox -s "$NOX_SESSION" -- -m \'not slow\' --maxfail=3 --splits 2 --group "$SHARD"'
    )
    lint = jobs["lint"]
    assert lint["runs-on"] == "ubuntu-24.04-arm"
    assert lint["steps"][0]["with"] == {"persist-credentials": False, "fetch-depth": 0}
    assert jobs["docs"]["timeout-minutes"] == 30
    assert "fetch-depth" not in jobs["docs"]["steps"][0]["with"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("shards = 0", "tool.shipyard.ci.shards: must be a whole number of shards from 1 to 64"),
        ("wheel-sessions = ['tests']", "tool.shipyard.ci.build-session: wheel-sessions is set but build-session"),
        ("[tool.shipyard.ci.jobs.tests]\nruns-on = []", "tool.shipyard.ci.jobs.tests.runs-on: must be a runner label"),
        ("[tool.shipyard.ci.jobs.tests]\nfetch-depth = -1", "jobs.tests.fetch-depth: must be 0 (full history)"),
        ("[tool.shipyard.ci.jobs.tests]\nposargs = '-x'", "jobs.tests.posargs: must be list, got str"),
        ("[tool.shipyard.ci.jobs.tests]\nposargs = ['${{ github.head_ref }}']", "no ${{ }} expressions"),
        ("[tool.shipyard.ci.jobs.tests]\nshards = 2", "jobs.tests.shards: unknown key 'shards'"),
    ],
)
def test_bad_options_are_one_line_errors(make_project: MakeProject, table: str, message: str) -> None:
    section = table if table.startswith("[") else f"[tool.shipyard.ci]\n{table}"
    root = make_project(config=section + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_config(root)
    assert "\n" not in str(info.value)


def test_options_naming_a_session_no_job_runs_are_errors(make_project: MakeProject) -> None:
    root = make_project(config="[tool.shipyard.ci.jobs.tset]\ntimeout-minutes = 5\n")
    with pytest.raises(ConfigError, match=r"tool.shipyard.ci.jobs: names session 'tset', which no job runs"):
        render_workflows(SESSIONS, load_config(root))


def test_extra_sessions_get_a_job_and_check_covers_them(make_project: MakeProject) -> None:
    root = make_project(config="[tool.shipyard.ci]\nextra-sessions = ['docs']\n")
    generate(root)
    jobs = _jobs(root)
    assert "docs" in jobs
    assert "docs" in jobs[GATE_JOB]["needs"]
    assert check(root) == []
    bad = make_project(config="[tool.shipyard.ci]\nextra-sessions = ['nope']\n")
    with pytest.raises(ConfigError, match=r"tool.shipyard.ci.extra-sessions: session .nope. is not defined"):
        generate(bad)


def test_sessions_parametrized_by_more_than_python_stay_distinct_across_shards_and_oses(
    make_project: MakeProject,
) -> None:
    root = make_project(
        config="[tool.shipyard.ci]\nshards = 2\n[tool.shipyard.ci.jobs.tests]\nruns-on = ['ubuntu-24.04', 'macos-15']\n"
    )
    sessions = [
        NoxSession("tests(django='4')", "tests", "3.12"),
        NoxSession("tests(django='5')", "tests", "3.13"),
    ]
    (workflow,) = render_workflows(sessions, load_config(root))
    ci = yaml.safe_load(workflow.text)
    matrix = ci["jobs"]["tests"]["strategy"]["matrix"]
    assert matrix == {
        "session": ["tests(django='4')", "tests(django='5')"],
        "os": ["ubuntu-24.04", "macos-15"],
        "shard": [1, 2],
        "include": [
            {"session": "tests(django='4')", "python": "3.12"},
            {"session": "tests(django='5')", "python": "3.13"},
        ],
    }
    from shipyard.ci import runs_in

    assert {(r.session, r.python) for r in runs_in(ci) if r.python} == {
        ("tests(django='4')", "3.12"),
        ("tests(django='5')", "3.13"),
    }


def test_a_failing_shard_still_uploads_its_report_and_fails(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(library)
    assert main(["ci", "run", "build", "--root", str(library)]) == 0
    (library / "tests/test_part0.py").write_text(_test_module(0) + "\n\ndef test_broken():\n    assert False\n")
    codes = [main(["ci", "run", "tests", "--shard", str(k), "--root", str(library)]) for k in (1, 2, 3)]
    out = capsys.readouterr().out
    assert sorted(codes)[-1] != 0  # the shard that ran test_broken failed
    assert "failed with exit code" in out
    reports = [library / ARTIFACTS / f"junit-tests-{k}/junit-tests.xml" for k in (1, 2, 3)]
    assert all(report.is_file() for report in reports)  # uploaded even by the failing shard
    assert sum("test_broken" in report.read_text() for report in reports) == 1
