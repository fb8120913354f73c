"""The generated workflows pass zizmor (offline), actionlint and the GitHub workflow JSON schema."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shipyard.ci import generate

from .conftest import DEPLOYING_CONFIG, PLAIN_NOXFILE, ROOT, MakeProject

SCALED_CONFIG = DEPLOYING_CONFIG.replace(
    "deploy = true\n",
    """deploy = true
build-session = "build"
wheel-sessions = ["tests"]
shards = 3
coverage = true
extra-sessions = ["docs"]
[tool.shipyard.ci.jobs.tests]
runs-on = ["ubuntu-24.04", "macos-15", "windows-2025"]
posargs = ["-m", "not slow"]
timeout-minutes = 50
[tool.shipyard.ci.jobs.lint]
fetch-depth = 0
""",
)


CACHED_CONFIG = DEPLOYING_CONFIG.replace(
    "deploy = true\n",
    """deploy = true
cache-store = "s3://acme-ci-cache/app"
cache-aws-role = "arn:aws:iam::123456789012:role/shipyard-cache"
cache-aws-region = "eu-west-1"
""",
)


@pytest.fixture(params=["fixture project", "scaled fixture project", "cached fixture project", "this repository"])
def workflow_files(request: pytest.FixtureRequest, make_project: MakeProject) -> list[str]:
    if request.param == "this repository":
        root = ROOT
    elif request.param == "scaled fixture project":
        root = make_project(PLAIN_NOXFILE + "\n@nox.session\ndef build(session):\n    pass\n", SCALED_CONFIG)
        generate(root)
    elif request.param == "cached fixture project":
        root = make_project(config=CACHED_CONFIG)
        generate(root)
        assert "invoke check --only" in (root / ".github/workflows/ci.yml").read_text()
    else:
        root = make_project(config=DEPLOYING_CONFIG)
        generate(root)
    files = sorted(str(p) for p in (root / ".github/workflows").glob("*.yml"))
    assert len(files) == 2, files  # ci.yml and deploy.yml
    return files


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def test_zizmor_has_no_findings(zizmor: list[str], workflow_files: list[str]) -> None:
    done = _run([*zizmor, *workflow_files])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


def test_actionlint_has_no_findings(actionlint: list[str], workflow_files: list[str]) -> None:
    done = _run([*actionlint, *workflow_files])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "actionlint: 0 finding(s) in 2 file(s)" in done.stderr


def test_workflow_schema_validates(check_jsonschema: list[str], workflow_files: list[str]) -> None:
    done = _run([*check_jsonschema, *workflow_files])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validators_do_catch_problems(
    zizmor: list[str], actionlint: list[str], check_jsonschema: list[str], tmp_path: Path
) -> None:
    # Guards the three tests above against a validator that passes everything.
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ matrix.nope }}\n"
    )
    assert _run([*zizmor, str(bad)]).returncode != 0
    assert _run([*actionlint, str(bad)]).returncode == 1
    bad.write_text("on: push\njobs:\n  a:\n    steps: 3\n")
    assert _run([*check_jsonschema, str(bad)]).returncode != 0


def test_the_composite_action_passes_zizmor_and_its_schema(
    zizmor: list[str], check_jsonschema: list[str], make_project: MakeProject
) -> None:
    for root in (ROOT, make_project(config="[tool.shipyard.ci]\naction = true\n")):
        if root != ROOT:
            generate(root)
        action = str(root / "action.yml")
        done = _run([*zizmor, action])
        assert done.returncode == 0, done.stdout + done.stderr
        assert "No findings to report" in done.stdout
        schema = [check_jsonschema[0], "--builtin-schema", "vendor.github-actions"]
        done = _run([*schema, action])
        assert done.returncode == 0, done.stdout + done.stderr
