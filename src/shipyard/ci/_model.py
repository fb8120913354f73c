"""The workflows as data: one job per session (a matrix for parametrized ones), a gate, deploys.

Everything here is a plain dict in the order GitHub shows it; ``_render`` turns it into YAML. Values that come
from outside (matrix cells, inputs) reach shell commands through ``env``, never spliced into the script.
Every ``uv run`` is ``uv run --locked``: a stale uv.lock fails the job with uv's one line instead of being
rewritten on the runner (plain ``uv run`` re-locks first, so a stale lock would pass).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.ci._config import CiConfig
from shipyard.ci._deploys import DeployPlan
from shipyard.ci._sessions import NoxSession

__all__ = ["COVERAGE_JOB", "DIST_ARTIFACT", "GATE_JOB", "ci_workflow", "default_plan", "deploy_workflow", "job_id"]

GATE_JOB = "ci-passed"
COVERAGE_JOB = "coverage"
DIST_ARTIFACT = "dist"
#: Where wheel-testing sessions find the build job's wheels (a glob the session expands), see docs/ci.md.
WHEELS_ENV = "SHIPYARD_WHEELS"
_ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"

Job = dict[str, Any]
Step = dict[str, Any]


def job_id(name: str) -> str:
    """A job id GitHub accepts (letters, digits, ``-``, ``_``; not starting with a digit) for a session name."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "session"
    return slug if re.match(r"[A-Za-z_]", slug) else f"s-{slug}"


def default_plan(config: CiConfig) -> DeployPlan:
    """The deploys of a project with ``staging`` and ``production`` (for callers without a project on disk)."""
    if not config.deploy:
        return DeployPlan(None, None, (), ())
    names = ("staging", "production")
    return DeployPlan(config.deploy_main or "staging", config.deploy_tag or "production", names, names)


def ci_workflow(sessions: Sequence[NoxSession], config: CiConfig, deploys: DeployPlan | None = None) -> dict[str, Any]:
    """``ci.yml``: every session in a job of its own, the coverage combine, the gate, then the main deploy."""
    deploys = deploys or default_plan(config)
    jobs: dict[str, Job] = {}
    groups = _groups(sessions)
    ids: dict[str, str] = {}
    for name in groups:
        jid = job_id(name)
        if jid in ids.values() or jid in (GATE_JOB, COVERAGE_JOB):
            jid = f"{jid}-session"
        ids[name] = jid
    build_id = ids.get(config.build_session) if config.build_session else None
    for name, group in groups.items():
        jobs[ids[name]] = _session_job(name, group, config, build_id=build_id)
    if config.coverage and config.shard_session in groups:
        jobs[COVERAGE_JOB] = _coverage_job(config, needs=ids[config.shard_session])
    jobs[GATE_JOB] = _gate_job(list(jobs), config)
    if deploys.main:
        # Inline rather than a call of deploy.yml: the OIDC permission then sits on this one job and nowhere else.
        jobs[f"deploy-{job_id(deploys.main)}"] = _deploy_job(
            config, deploys.main, needs=[GATE_JOB], condition=_ON_MAIN, signing=deploys.signing
        )
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


@dataclass(frozen=True)
class _Shape:
    """How one session's job fans out: its matrix, the env naming the session, and per-cell names."""

    matrix: dict[str, Any]
    env: dict[str, str]
    python: str | None
    runs_on: str
    session_ref: str  # what `nox -s` gets (a literal or a ${{ matrix }} expression)
    cell: str  # unique per matrix cell: artifact names must not collide
    shards: int


def _shape(name: str, group: list[NoxSession], config: CiConfig) -> _Shape:
    options = config.job(name)
    env: dict[str, str] = {}
    matrix: dict[str, Any] = {}
    python: str | None = group[0].python
    if all(s.python and s.session == f"{name}-{s.python}" for s in group):
        matrix["python"] = [s.python for s in group]
        env["NOX_SESSION"] = name + "-${{ matrix.python }}"
        python = "${{ matrix.python }}"
    elif len(group) > 1:
        matrix["include"] = [{"session": s.session, **({"python": s.python} if s.python else {})} for s in group]
        env["NOX_SESSION"] = "${{ matrix.session }}"
        python = "${{ matrix.python }}" if all(s.python for s in group) else None
    runs_on = options.runs_on[0] if len(options.runs_on) == 1 else config.runs_on
    if len(options.runs_on) > 1:
        matrix["os"] = list(options.runs_on)
        runs_on = "${{ matrix.os }}"
    shards = config.shards if name == config.shard_session else 1
    if shards > 1:
        matrix["shard"] = list(range(1, shards + 1))
    if "include" in matrix and ("os" in matrix or "shard" in matrix):
        # An include entry adds its keys to every combination, and a later entry overwrites what an earlier one
        # added: with other axes, each session would end up the last one. So the sessions become an axis, and
        # include only attaches each session's Python to its own cells (matched on an original value).
        sessions = matrix.pop("include")
        matrix = {"session": [entry["session"] for entry in sessions], **matrix}
        pythons = [entry for entry in sessions if "python" in entry]
        if pythons:
            matrix["include"] = pythons
    session_ref = env.get("NOX_SESSION", group[0].session)
    cell = session_ref if "session" not in str(env.get("NOX_SESSION")) else "${{ matrix.session }}"
    cell += "-${{ matrix.os }}" if "os" in matrix else ""
    cell += "-${{ matrix.shard }}" if shards > 1 else ""
    return _Shape(matrix, env, python, runs_on, session_ref, cell, shards)


def _session_job(name: str, group: list[NoxSession], config: CiConfig, *, build_id: str | None) -> Job:
    options = config.job(name)
    shape = _shape(name, group, config)
    env = dict(shape.env)
    tests_wheel = bool(build_id) and name in config.wheel_sessions
    covered = config.coverage and name == config.shard_session
    steps: list[Step] = [*_checkout_and_uv(config, cache=True, fetch_depth=options.fetch_depth)]
    if shape.python:
        steps.append({"name": "Install Python", "run": 'uv python install "$PYTHON"', "env": {"PYTHON": shape.python}})
    if name in config.setup_sessions:
        steps.append({"name": "Set up the machine", "run": config.setup})
    if tests_wheel:
        steps.append(_download(DIST_ARTIFACT, "dist", name="Download the wheel the build job made"))
        env[WHEELS_ENV] = "dist/*.whl"
    if covered:
        env["COVERAGE_FILE"] = f".coverage.{_slug(shape.cell)}"
    posargs = [shlex.quote(arg) for arg in options.posargs]
    if shape.shards > 1:
        posargs += ["--splits", str(shape.shards), "--group", '"$SHARD"']
        env["SHARD"] = "${{ matrix.shard }}"
    target = '"$NOX_SESSION"' if "NOX_SESSION" in env else shape.session_ref
    command = f"uv run --locked nox -s {target}" + (" -- " + " ".join(posargs) if posargs else "")
    # Through the shared cache only where a restored result is the whole job: no shard, posargs, downloaded wheel,
    # coverage data or JUnit file that a hit would not make, and no dist/ to upload.
    cached = bool(config.cache_store) and not (
        posargs
        or covered
        or tests_wheel
        or name in config.junit_sessions
        or (name == config.build_session and build_id)
    )
    if cached:
        steps.append(_cache_credentials(config))
        env |= _cache_env(config)
        command = f"uv run --locked invoke check --only {target} --explain"
    steps.append({"name": "Run the session", "run": command, **({"env": env} if env else {})})
    if name in config.junit_sessions:
        report = f"reports/junit-{shape.session_ref}.xml"
        steps.append(_upload(f"junit-{shape.cell}", report, name="Upload the JUnit report"))
    if covered:
        data = f".coverage.{_slug(shape.cell)}"
        steps.append(_upload(f"coverage-{shape.cell}", data, name="Upload the coverage data", hidden=True))
    if name == config.build_session and build_id:
        steps.append(_upload(DIST_ARTIFACT, "dist/", name="Upload dist/ for the jobs that test it", always=False))
    job: Job = {"name": f"nox -s {shape.session_ref}" + (" (shard ${{ matrix.shard }})" if shape.shards > 1 else "")}
    if tests_wheel and build_id:
        job["needs"] = [build_id]
    job["runs-on"] = shape.runs_on
    job["timeout-minutes"] = options.timeout_minutes or config.timeout_minutes
    if shape.matrix:
        job["strategy"] = {"fail-fast": False, "matrix": shape.matrix}
    if cached:
        job["permissions"] = {"contents": "read", "id-token": "write"}  # OIDC, for the cache store only
    job["steps"] = steps
    return job


#: A pull request from a fork: it may read proven results but never write them (its code is not trusted).
_FROM_FORK = "github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name != github.repository"


#: The credentials step's id: the session step reads its outcome.
CACHE_CREDENTIALS_STEP = "cache-credentials"


def _cache_credentials(config: CiConfig) -> Step:
    """AWS credentials for the cache store by OIDC. GitHub gives a fork's pull request no OIDC token (and no
    secrets), so there the step is skipped and the job runs everything, as without a store.

    The step may fail (the role does not exist yet, the trust policy or OIDC provider is wrong) without failing
    the job: a cache is never a reason for a red job. The session step gets its outcome and then runs the session
    for real, with one warning that the store was out of reach."""
    return {
        "id": CACHE_CREDENTIALS_STEP,
        "name": "AWS credentials for the cache store (OIDC)",
        "if": "${{ !(" + _FROM_FORK + ") }}",
        "continue-on-error": True,
        "uses": "aws-actions/configure-aws-credentials",
        "with": {"role-to-assume": config.cache_aws_role, "aws-region": config.cache_aws_region},
    }


def _cache_env(config: CiConfig) -> dict[str, str]:
    return {
        "SHIPYARD_CACHE_STORE": config.cache_store,
        # "failure": the store is out of reach, said once as a warning; the session runs and decides the job.
        "SHIPYARD_CACHE_CREDENTIALS": "${{ steps." + CACHE_CREDENTIALS_STEP + ".outcome }}",
        # From a repository secret, never from the pull request: only a run holding it can sign an entry.
        "SHIPYARD_CACHE_SIGNING_KEY": "${{ secrets.SHIPYARD_CACHE_SIGNING_KEY }}",
        "SHIPYARD_CACHE_READ_ONLY": "${{ (" + _FROM_FORK + ") && '1' || '' }}",
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9${}. _-]+", "-", text)


def _upload(artifact: str, path: str, *, name: str, hidden: bool = False, always: bool = True) -> Step:
    step: Step = {"name": name}
    if always:
        step["if"] = "${{ !cancelled() }}"  # a failing session's reports are the ones you need
    step["uses"] = "actions/upload-artifact"
    step["with"] = {"name": artifact, "path": path, "if-no-files-found": "error"}
    if hidden:
        step["with"]["include-hidden-files"] = True  # .coverage.* files start with a dot
    return step


def _download(artifact: str, path: str, *, name: str, pattern: bool = False, merge: bool = True) -> Step:
    inputs: dict[str, Any] = {"pattern": artifact, "merge-multiple": merge} if pattern else {"name": artifact}
    return {"name": name, "uses": "actions/download-artifact", "with": {**inputs, "path": path}}


def _checkout_and_uv(config: CiConfig, *, cache: bool, fetch_depth: int = 1) -> list[Step]:
    uv: dict[str, Any] = {"version": config.uv_version} if config.uv_version else {}
    if cache:
        uv |= {"enable-cache": True, "cache-dependency-glob": "uv.lock"}
    else:
        # No cache where credentials are live: a cache written by a pull request must not run in a deploy.
        uv |= {"enable-cache": False}
    checkout: dict[str, Any] = {"persist-credentials": False}
    if fetch_depth != 1:
        checkout["fetch-depth"] = fetch_depth  # 0: full history, for VCS-versioned packages
    return [{"uses": "actions/checkout", "with": checkout}, {"uses": "astral-sh/setup-uv", "with": uv}]


def _coverage_job(config: CiConfig, *, needs: str) -> Job:
    group = shlex.quote(config.coverage_group)
    steps = [
        *_checkout_and_uv(config, cache=True),
        # JUnit first, so a coverage failure still leaves the reports; one directory per shard (same file names).
        _download("junit-*", "reports", name="Download every shard's JUnit report", pattern=True, merge=False),
        _upload("combined-junit", "reports/", name="Upload the JUnit reports as one artifact"),
        _download("coverage-*", "coverage-data", name="Download every shard's coverage data", pattern=True),
        {
            "name": "Combine and report (fail_under from the coverage configuration)",
            "run": f"uv run --locked --only-group {group} coverage combine coverage-data\n"
            f"uv run --locked --only-group {group} coverage report\n",
        },
    ]
    return {
        "name": "combine coverage",
        "if": "${{ !cancelled() }}",
        "needs": [needs],
        "runs-on": config.runs_on,
        "timeout-minutes": 10,
        "steps": steps,
    }


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


def _deploy_job(
    config: CiConfig,
    target: str,
    *,
    needs: list[str] | None = None,
    condition: str = "",
    signing: Mapping[str, str] | None = None,
) -> Job:
    """The job that runs ``invoke deploy --env <target>`` (a name, or a ``${{ }}`` expression giving one)."""
    steps = [*_checkout_and_uv(config, cache=False)]
    steps.append(
        {
            "name": "AWS credentials from OIDC",
            "uses": "aws-actions/configure-aws-credentials",
            "with": {"role-to-assume": "${{ vars.AWS_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"},
        }
    )
    if config.setup:
        steps.append({"name": "Set up the machine", "run": config.setup})
    steps.append(
        {
            "name": "Deploy",
            "run": 'uv run --locked invoke deploy --env "$DEPLOY_ENV"',
            # The push signs the provenance: the signing key from its secret, only on this step (_deploys.signing_env).
            "env": {"DEPLOY_ENV": target, **(signing or {})},
        }
    )
    # The deploy run's HTML report (written by the step summary's reporter), linked from the summary.
    steps.append(
        {
            "name": "Upload the run report",
            "if": "${{ !cancelled() }}",
            "uses": "actions/upload-artifact",
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


def deploy_workflow(config: CiConfig, deploys: DeployPlan | None = None) -> dict[str, Any]:
    """``deploy.yml``: the tag environment from a ``v*`` tag, or any deployable environment by manual dispatch.

    The main environment deploys in ci.yml after its gate. Production waits for the reviewers of its GitHub
    environment. AWS credentials come from OIDC (``id-token: write`` on the deploy job only).
    """
    deploys = deploys or default_plan(config)
    default = deploys.tag or deploys.choices[0]
    on: dict[str, Any] = {"push": {"tags": ["v*"]}} if deploys.tag else {}
    on["workflow_dispatch"] = {
        "inputs": {
            "environment": {
                "description": "where to deploy (a GitHub environment)",
                "required": True,
                "type": "choice",
                "options": list(deploys.choices),
                "default": default,
            }
        }
    }
    return {
        "name": "Deploy",
        "on": on,
        "permissions": {"contents": "read"},
        "jobs": {
            "deploy": _deploy_job(config, "${{ inputs.environment || '" + default + "' }}", signing=deploys.signing)
        },
    }
