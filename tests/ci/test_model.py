"""The generated workflows, compared structurally (parsed YAML), and their supply-chain hygiene."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shipyard.ci import CiConfig, NoxSession, render_workflows, runs_in
from shipyard.ci._model import GATE_JOB, ci_workflow, deploy_workflow, job_id

from .conftest import DEPLOYING_CONFIG, MakeProject

SESSIONS = [
    NoxSession("lint", "lint"),
    NoxSession("tests-3.11", "tests", "3.11"),
    NoxSession("tests-3.12", "tests", "3.12"),
]
CONFIG = CiConfig(setup="bash ci/bootstrap.sh", setup_sessions=("tests",), junit_sessions=("tests",), deploy=True)


def _parsed(sessions: list[NoxSession], config: CiConfig) -> dict[str, dict[str, Any]]:
    return {Path(w.path).name: yaml.safe_load(w.text) for w in render_workflows(sessions, config)}


def _step_runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_one_job_per_session_and_a_python_matrix() -> None:
    ci = _parsed(SESSIONS, CONFIG)["ci.yml"]
    jobs = ci["jobs"]
    assert list(jobs) == ["lint", "tests", GATE_JOB, "deploy-staging"]
    assert "strategy" not in jobs["lint"]
    assert _step_runs(jobs["lint"]) == ["uv run --locked nox -s lint"]
    assert jobs["tests"]["strategy"] == {"fail-fast": False, "matrix": {"python": ["3.11", "3.12"]}}
    assert [(r.job, r.session, r.python) for r in runs_in(ci)] == [
        ("lint", "lint", None),
        ("tests", "tests-3.11", "3.11"),
        ("tests", "tests-3.12", "3.12"),
    ]


def test_from_a_fixture_noxfile_non_default_sessions_are_left_out(make_project: MakeProject) -> None:
    from shipyard.ci import list_sessions, load_config

    root = make_project()
    ci = _parsed(list_sessions(root), load_config(root))["ci.yml"]
    assert sorted(ci["jobs"]) == sorted(["lint", "tests", GATE_JOB])
    assert {run.session for run in runs_in(ci)} == {"lint", "tests-3.11", "tests-3.12"}
    assert "docs" not in str(ci)


def test_sessions_that_need_the_machine_run_the_setup_first() -> None:
    jobs = _parsed(SESSIONS, CONFIG)["ci.yml"]["jobs"]
    tests_runs = _step_runs(jobs["tests"])
    assert tests_runs == [
        'uv python install "$PYTHON"',
        "bash ci/bootstrap.sh",
        'uv run --locked nox -s "$NOX_SESSION"',
    ]
    assert "bash ci/bootstrap.sh" not in _step_runs(jobs["lint"])


def test_junit_report_of_the_tests_session_is_uploaded_even_when_tests_fail() -> None:
    jobs = _parsed(SESSIONS, CONFIG)["ci.yml"]["jobs"]
    upload = [s for s in jobs["tests"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert len(upload) == 1
    assert upload[0]["if"] == "${{ !cancelled() }}"
    assert upload[0]["with"]["path"] == "reports/junit-tests-${{ matrix.python }}.xml"
    assert not any("upload-artifact" in s.get("uses", "") for s in jobs["lint"]["steps"])


def test_gate_job_waits_for_every_session_job_and_checks_their_results() -> None:
    gate = _parsed(SESSIONS, CONFIG)["ci.yml"]["jobs"][GATE_JOB]
    assert gate["if"] == "${{ always() }}"
    assert gate["needs"] == ["lint", "tests"]
    assert "needs.*.result" in gate["steps"][0]["env"]["RESULTS"]


def test_checkout_and_setup_uv_in_every_job() -> None:
    for name, doc in _parsed(SESSIONS, CONFIG).items():
        for job_name, job in doc["jobs"].items():
            if job_name == GATE_JOB:
                continue
            checkout, setup_uv = job["steps"][:2]
            assert checkout["uses"].startswith("actions/checkout@"), (name, job_name)
            assert checkout["with"]["persist-credentials"] is False
            assert setup_uv["uses"].startswith("astral-sh/setup-uv@")


def test_session_jobs_cache_on_uv_lock_and_deploys_do_not_cache() -> None:
    docs = _parsed(SESSIONS, CONFIG)
    assert docs["ci.yml"]["jobs"]["lint"]["steps"][1]["with"] == {
        "enable-cache": True,
        "cache-dependency-glob": "uv.lock",
    }
    assert docs["ci.yml"]["jobs"]["deploy-staging"]["steps"][1]["with"] == {"enable-cache": False}
    assert docs["deploy.yml"]["jobs"]["deploy"]["steps"][1]["with"] == {"enable-cache": False}


def test_every_action_is_pinned_to_a_full_sha_with_its_version_in_a_comment() -> None:
    for workflow in render_workflows(SESSIONS, CONFIG):
        uses = [line for line in workflow.text.splitlines() if "uses:" in line]
        assert uses
        for line in uses:
            assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_read_only_token_by_default_and_oidc_only_on_deploy_jobs() -> None:
    for name, doc in _parsed(SESSIONS, CONFIG).items():
        assert doc["permissions"] == {"contents": "read"}, name
        for job_name, job in doc["jobs"].items():
            is_deploy = job_name.startswith("deploy")
            assert ("permissions" in job) == is_deploy, job_name
            if is_deploy:
                assert job["permissions"] == {"contents": "read", "id-token": "write"}


def test_no_pull_request_target_and_no_long_lived_keys() -> None:
    for workflow in render_workflows(SESSIONS, CONFIG):
        assert "pull_request_target" not in workflow.text
        assert "secrets." not in workflow.text
        assert "aws-access-key-id" not in workflow.text


def test_branch_runs_are_cancelled_when_superseded_but_deploys_never() -> None:
    docs = _parsed(SESSIONS, CONFIG)
    ci = docs["ci.yml"]
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.ref != 'refs/heads/main' }}"
    staging = ci["jobs"]["deploy-staging"]
    assert staging["concurrency"] == {"group": "deploy-staging", "cancel-in-progress": False}
    assert docs["deploy.yml"]["jobs"]["deploy"]["concurrency"]["cancel-in-progress"] is False


def test_staging_deploys_from_main_after_the_gate() -> None:
    staging = _parsed(SESSIONS, CONFIG)["ci.yml"]["jobs"]["deploy-staging"]
    assert staging["needs"] == [GATE_JOB]
    assert "refs/heads/main" in staging["if"]
    assert staging["environment"] == "staging"
    deploy = next(s for s in staging["steps"] if s.get("name") == "Deploy")
    upload = staging["steps"][-1]  # after the deploy, even a failed one: the run report is the summary's link
    assert upload["with"]["name"] == "shipyard-report"
    assert upload["if"] == "${{ !cancelled() }}"
    assert deploy["run"] == 'uv run --locked invoke deploy --env "$DEPLOY_ENV"'
    assert deploy["env"] == {"DEPLOY_ENV": "staging"}
    aws = next(s for s in staging["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"


def test_production_deploys_on_tags_or_by_hand_behind_its_environment() -> None:
    deploy = _parsed(SESSIONS, CONFIG)["deploy.yml"]
    triggers = deploy["on"]  # rendered quoted, so YAML 1.1 readers see a string too
    assert triggers["push"] == {"tags": ["v*"]}
    assert triggers["workflow_dispatch"]["inputs"]["environment"]["options"] == ["staging", "production"]
    assert deploy["jobs"]["deploy"]["environment"] == "${{ inputs.environment || 'production' }}"


def test_without_deploy_there_are_no_deploy_jobs_or_file() -> None:
    files = render_workflows(SESSIONS, CiConfig())
    assert [Path(w.path).name for w in files] == ["ci.yml"]
    assert "deploy" not in yaml.safe_load(files[0].text)["jobs"]
    assert "tags" not in ci_workflow(SESSIONS, CiConfig())["on"]["push"]


def test_sessions_parametrized_by_more_than_python_get_an_include_matrix() -> None:
    sessions = [NoxSession("tests(django='4')", "tests"), NoxSession("tests(django='5')", "tests")]
    ci = yaml.safe_load(render_workflows(sessions, CiConfig())[0].text)
    assert ci["jobs"]["tests"]["strategy"]["matrix"] == {
        "include": [{"session": "tests(django='4')"}, {"session": "tests(django='5')"}]
    }
    assert [r.session for r in runs_in(ci)] == ["tests(django='4')", "tests(django='5')"]


def test_job_ids_are_valid_for_any_session_name() -> None:
    assert job_id("lint") == "lint"
    assert job_id("docs build") == "docs-build"
    assert job_id("3rd") == "s-3rd"


def test_deploy_workflow_runs_the_setup_before_deploying() -> None:
    steps = deploy_workflow(CONFIG)["jobs"]["deploy"]["steps"]
    runs = [s.get("run") for s in steps if "run" in s]
    assert runs == ["bash ci/bootstrap.sh", 'uv run --locked invoke deploy --env "$DEPLOY_ENV"']


def test_config_from_pyproject_shapes_the_workflow(make_project: MakeProject) -> None:
    from shipyard.ci import list_sessions, load_config

    root = make_project(config=DEPLOYING_CONFIG)
    files = {Path(w.path).name: w.text for w in render_workflows(list_sessions(root), load_config(root))}
    assert set(files) == {"ci.yml", "deploy.yml"}
    assert "version: 0.13.9" in files["ci.yml"]
