"""The generated deploy jobs sign what they push: the signing key from its secret, or keyless with the job's OIDC
identity; no other job gets either, and a project that does not sign gets neither."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard._cli import main
from shipyard.ci import CI_WORKFLOW, DEPLOY_WORKFLOW, check, generate

from .conftest import ENVIRONMENTS, MakeProject

DEPLOYING = "[tool.shipyard.ci]\ndeploy = true\n"


def _deploy_jobs(root: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in (CI_WORKFLOW, DEPLOY_WORKFLOW):
        doc = yaml.safe_load((root / name).read_text())
        found += [(f"{name}:{job_id}", job) for job_id, job in doc["jobs"].items() if job_id.startswith("deploy")]
    return found


def _step_env(job: dict[str, Any]) -> dict[str, str]:
    (step,) = [step for step in job["steps"] if step.get("name") == "Deploy"]
    return dict(step.get("env", {}))


def _every_job(root: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in (CI_WORKFLOW, DEPLOY_WORKFLOW):
        doc = yaml.safe_load((root / name).read_text())
        found += [(job_id, job) for job_id, job in doc["jobs"].items()]
    return found


def test_a_key_signing_project_passes_its_key_secret_to_the_deploy_step_only(make_project: MakeProject) -> None:
    root = make_project(config=DEPLOYING + '[tool.shipyard.signing]\nkey-env = "ACME_PROVENANCE_KEY"\n' + ENVIRONMENTS)
    generate(root)
    jobs = _deploy_jobs(root)
    assert [name for name, _ in jobs] == [f"{CI_WORKFLOW}:deploy-staging", f"{DEPLOY_WORKFLOW}:deploy"]
    for _, job in jobs:
        assert _step_env(job)["ACME_PROVENANCE_KEY"] == "${{ secrets.ACME_PROVENANCE_KEY }}"
        # Only the Deploy step sees the key: not the set-up, not the report upload.
        others = [step for step in job["steps"] if step.get("name") != "Deploy"]
        assert not any("secrets." in str(step) for step in others)
    for job_id, job in _every_job(root):
        if not job_id.startswith("deploy"):
            assert "secrets." not in str(job), job_id
            assert "id-token" not in str(job.get("permissions", {})), job_id
    assert check(root) == []


def test_keyless_signing_passes_no_secret_and_relies_on_the_deploy_jobs_oidc(make_project: MakeProject) -> None:
    root = make_project(config=DEPLOYING + '[tool.shipyard.signing]\nmethod = "sigstore"\n' + ENVIRONMENTS)
    generate(root)
    for _, job in _deploy_jobs(root):
        assert "secrets." not in str(job)
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert not [job_id for job_id, job in _every_job(root) if "id-token" in str(job) and "deploy" not in job_id]
    assert check(root) == []


def test_a_project_that_does_not_sign_gets_no_secret(make_project: MakeProject) -> None:
    root = make_project(config=DEPLOYING + ENVIRONMENTS)
    generate(root)
    for _, job in _deploy_jobs(root):
        assert _step_env(job).keys() == {"DEPLOY_ENV"}


def test_check_flags_a_deploy_job_whose_signing_secret_was_removed(make_project: MakeProject) -> None:
    root = make_project(config=DEPLOYING + "[tool.shipyard.signing]\n" + ENVIRONMENTS)
    generate(root)
    path = root / DEPLOY_WORKFLOW
    path.write_text(
        path.read_text().replace("          SHIPYARD_SIGNING_KEY: ${{ secrets.SHIPYARD_SIGNING_KEY }}\n", "")
    )
    assert check(root) != []


def test_a_key_variable_github_reserves_is_one_config_error(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(config=DEPLOYING + '[tool.shipyard.signing]\nkey-env = "GITHUB_SIGNING_KEY"\n' + ENVIRONMENTS)
    assert main(["ci", "generate", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "tool.shipyard.signing.key-env: 'GITHUB_SIGNING_KEY' cannot be a GitHub secret's name" in err
    assert err.count("\n") == 1


def test_the_signing_deploy_jobs_pass_zizmor_pedantic(make_project: MakeProject, zizmor: list[str]) -> None:
    root = make_project(config=DEPLOYING + "[tool.shipyard.signing]\n" + ENVIRONMENTS)
    generate(root)
    files = [str(root / CI_WORKFLOW), str(root / DEPLOY_WORKFLOW)]
    done = subprocess.run([*zizmor, *files], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
