"""The workflows as data: one job per default nox session (a matrix for parametrized ones), a gate, deploys.

Everything here is a plain dict in the order GitHub shows it; ``_render`` turns it into YAML. Values that come
from outside (matrix cells, inputs) reach shell commands through ``env``, never spliced into the script.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shipyard.ci._config import CiConfig
from shipyard.ci._pins import CHECKOUT, CONFIGURE_AWS_CREDENTIALS, SETUP_UV, UPLOAD_ARTIFACT
from shipyard.ci._sessions import NoxSession

__all__ = ["GATE_JOB", "ci_workflow", "deploy_workflow", "job_id"]

GATE_JOB = "ci-passed"
_ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"

Job = dict[str, Any]


def job_id(name: str) -> str:
    """A job id GitHub accepts (letters, digits, ``-``, ``_``; not starting with a digit) for a session name."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "session"
    return slug if re.match(r"[A-Za-z_]", slug) else f"s-{slug}"


def ci_workflow(sessions: Sequence[NoxSession], config: CiConfig) -> dict[str, Any]:
    """``ci.yml``: every default session in a job of its own, then the gate, then (optionally) the deploys."""
    jobs: dict[str, Job] = {}
    for name, group in _groups(sessions).items():
        jid = job_id(name)
        if jid in jobs or jid == GATE_JOB:
            jid = f"{jid}-session"
        jobs[jid] = _session_job(name, group, config)
    jobs[GATE_JOB] = _gate_job(list(jobs), config)
    if config.deploy:
        # Inline rather than a call of deploy.yml: the OIDC permission then sits on this one job and nowhere else.
        jobs["deploy-staging"] = _deploy_job(config, "staging", needs=[GATE_JOB], condition=_ON_MAIN)
    on: dict[str, Any] = {"push": {"branches": ["main"]}, "pull_request": None, "workflow_dispatch": None}
    return {
        "name": "CI",
        "on": on,
        "permissions": {"contents": "read"},
        # A newer push cancels the older run of a pull request or branch; runs on main deploy, so they queue.
        "concurrency": {
            "group": "ci-${{ github.event.pull_request.number || github.ref }}",
            "cancel-in-progress": "${{ github.ref != 'refs/heads/main' }}",
        },
        "jobs": jobs,
    }


def _groups(sessions: Sequence[NoxSession]) -> dict[str, list[NoxSession]]:
    groups: dict[str, list[NoxSession]] = {}
    for session in sessions:
        groups.setdefault(session.name, []).append(session)
    return groups


def _session_job(name: str, group: list[NoxSession], config: CiConfig) -> Job:
    env: dict[str, str] = {}
    python_matrix = all(s.python and s.session == f"{name}-{s.python}" for s in group)
    if python_matrix:
        matrix: dict[str, Any] | None = {"python": [s.python for s in group]}
        env["NOX_SESSION"] = name + "-${{ matrix.python }}"
        python: str | None = "${{ matrix.python }}"
    elif len(group) > 1:
        matrix = {"include": [{"session": s.session, **({"python": s.python} if s.python else {})} for s in group]}
        env["NOX_SESSION"] = "${{ matrix.session }}"
        python = "${{ matrix.python }}" if all(s.python for s in group) else None
    else:
        matrix = None
        python = group[0].python
    steps: list[dict[str, Any]] = [*_checkout_and_uv(config, cache=True)]
    if python:
        steps.append({"name": "Install Python", "run": 'uv python install "$PYTHON"', "env": {"PYTHON": python}})
    if name in config.setup_sessions:
        steps.append({"name": "Set up the machine", "run": config.setup})
    if env:
        steps.append({"name": "Run the session", "run": 'uv run nox -s "$NOX_SESSION"', "env": env})
    else:
        steps.append({"name": "Run the session", "run": f"uv run nox -s {group[0].session}"})
    if name in config.junit_sessions:
        report = "${{ matrix.session }}" if matrix and "include" in matrix else env.get("NOX_SESSION", group[0].session)
        steps.append(
            {
                "name": "Upload the JUnit report",
                "if": "${{ !cancelled() }}",
                "uses": UPLOAD_ARTIFACT.uses,
                "with": {
                    "name": f"junit-{report}",
                    "path": f"reports/junit-{report}.xml",
                    "if-no-files-found": "error",
                },
            }
        )
    job: Job = {"name": f"nox -s {env.get('NOX_SESSION', group[0].session)}", "runs-on": config.runs_on}
    job["timeout-minutes"] = config.timeout_minutes
    if matrix:
        job["strategy"] = {"fail-fast": False, "matrix": matrix}
    job["steps"] = steps
    return job


def _checkout_and_uv(config: CiConfig, *, cache: bool) -> list[dict[str, Any]]:
    uv: dict[str, Any] = {"version": config.uv_version} if config.uv_version else {}
    if cache:
        uv |= {"enable-cache": True, "cache-dependency-glob": "uv.lock"}
    else:
        # No cache where credentials are live: a cache written by a pull request must not run in a deploy.
        uv |= {"enable-cache": False}
    return [
        {"uses": CHECKOUT.uses, "with": {"persist-credentials": False}},
        {"uses": SETUP_UV.uses, "with": uv},
    ]


def _gate_job(needs: list[str], config: CiConfig) -> Job:
    return {
        "name": "every session passed",
        # Runs even when a session failed or was skipped, so that branch protection can require this one job.
        "if": "${{ always() }}",
        "needs": needs,
        "runs-on": config.runs_on,
        "timeout-minutes": 5,
        "steps": [
            {
                "name": "Check every session job's result",
                "env": {"RESULTS": "${{ join(needs.*.result, ' ') }}"},
                "run": 'for result in $RESULTS; do\n  if [ "$result" != success ]; then\n'
                '    echo "a session job ended with: $result"; exit 1\n  fi\ndone\n',
            }
        ],
    }


def _deploy_job(config: CiConfig, target: str, *, needs: list[str] | None = None, condition: str = "") -> Job:
    """The job that runs ``invoke deploy --env <target>`` (a name, or a ``${{ }}`` expression giving one)."""
    steps = [*_checkout_and_uv(config, cache=False)]
    steps.append(
        {
            "name": "AWS credentials from OIDC",
            "uses": CONFIGURE_AWS_CREDENTIALS.uses,
            "with": {"role-to-assume": "${{ vars.AWS_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"},
        }
    )
    if config.setup:
        steps.append({"name": "Set up the machine", "run": config.setup})
    steps.append({"name": "Deploy", "run": 'uv run invoke deploy --env "$DEPLOY_ENV"', "env": {"DEPLOY_ENV": target}})
    # The deploy run's HTML report (written by the step summary's reporter), linked from the summary.
    steps.append(
        {
            "name": "Upload the run report",
            "if": "${{ !cancelled() }}",
            "uses": UPLOAD_ARTIFACT.uses,
            "with": {"name": "shipyard-report", "path": "reports/shipyard-report.html", "if-no-files-found": "ignore"},
        }
    )
    job: Job = {"name": f"invoke deploy --env {target}"}
    if needs:
        job["needs"] = needs
    if condition:
        job["if"] = "${{ " + condition + " }}"
    return {
        **job,
        "runs-on": config.runs_on,
        "timeout-minutes": config.timeout_minutes,
        # The GitHub environment holds the reviewers and the AWS_ROLE_ARN / AWS_REGION variables.
        "environment": target,
        # One deploy per environment at a time; a running deploy is never cancelled.
        "concurrency": {"group": f"deploy-{target}", "cancel-in-progress": False},
        "permissions": {"contents": "read", "id-token": "write"},
        "steps": steps,
    }


def deploy_workflow(config: CiConfig) -> dict[str, Any]:
    """``deploy.yml``: production from a ``v*`` tag, or any environment by manual dispatch.

    Staging deploys run in ci.yml after its gate. Production waits for the reviewers of the ``production``
    GitHub environment. AWS credentials come from OIDC (``id-token: write`` on the deploy job only).
    """
    return {
        "name": "Deploy",
        "on": {
            "push": {"tags": ["v*"]},
            "workflow_dispatch": {
                "inputs": {
                    "environment": {
                        "description": "where to deploy (a GitHub environment)",
                        "required": True,
                        "type": "choice",
                        "options": ["staging", "production"],
                        "default": "production",
                    }
                }
            },
        },
        "permissions": {"contents": "read"},
        "jobs": {"deploy": _deploy_job(config, "${{ inputs.environment || 'production' }}")},
    }
