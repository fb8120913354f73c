"""``[tool.shipyard.ci]``: what the noxfile cannot say about CI (runners, set-up, reports, shards, pins, deploys).

Every key is validated here, before anything is generated: a mistake is one ``ConfigError`` line naming the file,
the dotted key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard import _pyproject
from shipyard._errors import ConfigError
from shipyard._pyproject import Field
from shipyard.ci._pins import Pin, effective, is_sha, valid_action

__all__ = ["CiConfig", "JobOptions", "load_config"]

_KEY = "tool.shipyard.ci"

_FIELDS = {
    "noxfile": Field(str, default="noxfile.py", help="the noxfile CI runs, relative to the project root"),
    "runs-on": Field(str, default="ubuntu-24.04"),
    "uv-version": Field(str, default="", help="the uv version setup-uv installs; empty: setup-uv's default"),
    "setup": Field(str, default="", help="command that prepares a fresh machine, e.g. bash ci/bootstrap.sh"),
    "setup-sessions": Field(list, default=[]),
    "junit-sessions": Field(list, default=[]),
    "timeout-minutes": Field(int, default=30),
    "deploy": Field(bool, default=False),
    "deploy-main": Field(str, default="", help="environment deployed after the gate on main (default: staging)"),
    "deploy-tag": Field(str, default="", help="environment deployed on a v* tag (default: production)"),
    "pins": Field(dict, default={}),
    "actions-git-base": Field(str, default="https://github.com"),
    "extra-sessions": Field(list, default=[]),
    "build-session": Field(str, default=""),
    "wheel-sessions": Field(list, default=[]),
    "shards": Field(int, default=1),
    "shard-session": Field(str, default="tests"),
    "coverage": Field(bool, default=False),
    "coverage-group": Field(str, default="test"),
    "jobs": Field(dict, default={}),
    "action": Field(bool, default=False),
    "cache-store": Field(str, default="", help="s3://BUCKET/PREFIX: session jobs skip what a passing run proved"),
    "cache-aws-role": Field(str, default="", help="the IAM role ARN the session jobs assume by OIDC"),
    "cache-aws-region": Field(str, default="", help="the bucket's AWS region, e.g. eu-west-1"),
}

_STORE = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?")
_ROLE = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")

_JOB_FIELDS = {
    "runs-on": Field((str, list), default=""),
    "posargs": Field(list, default=[]),
    "fetch-depth": Field(int, default=1),
    "timeout-minutes": Field(int, default=0),
}


@dataclass(frozen=True)
class JobOptions:
    """``[tool.shipyard.ci.jobs.<session>]``: one session's job. ``runs_on`` with several labels is an OS matrix."""

    runs_on: tuple[str, ...] = ()
    posargs: tuple[str, ...] = ()
    fetch_depth: int = 1
    timeout_minutes: int = 0


@dataclass(frozen=True)
class CiConfig:
    """The validated ``[tool.shipyard.ci]`` table (every key optional)."""

    noxfile: str = "noxfile.py"
    runs_on: str = "ubuntu-24.04"
    uv_version: str = ""
    #: Run before the sessions in ``setup_sessions`` (and before a deploy): the same script a developer runs.
    setup: str = ""
    setup_sessions: tuple[str, ...] = ()
    #: Sessions that write ``reports/junit-<session>.xml`` under CI; each job uploads its file.
    junit_sessions: tuple[str, ...] = ()
    timeout_minutes: int = 30
    deploy: bool = False
    #: Environments (validated against ``[tool.shipyard.environments]`` by ``_deploys``); "" means the default.
    deploy_main: str = ""
    deploy_tag: str = ""
    #: ``[tool.shipyard.ci.pins]``: the project's own pins, replacing or extending Shipyard's defaults.
    pin_overrides: Mapping[str, Pin] = field(default_factory=dict)
    #: Where ``shipyard ci pins update`` finds an action's repository: ``<base>/<owner>/<repo>``.
    actions_git_base: str = "https://github.com"
    #: Non-default sessions that get a job too.
    extra_sessions: tuple[str, ...] = ()
    #: The session whose ``dist/`` is uploaded once; ``wheel_sessions`` download it and test that wheel.
    build_session: str = ""
    wheel_sessions: tuple[str, ...] = ()
    shards: int = 1
    shard_session: str = "tests"
    coverage: bool = False
    coverage_group: str = "test"
    jobs: Mapping[str, JobOptions] = field(default_factory=dict)
    #: Also generate the composite action ``action.yml`` at the root (for a repository that publishes it).
    action: bool = False
    #: The shared content cache the session jobs use (``s3://bucket/prefix``; "" = none, jobs run as without it),
    #: and the role and region the jobs get credentials for by OIDC.
    cache_store: str = ""
    cache_aws_role: str = ""
    cache_aws_region: str = ""

    @property
    def pins(self) -> dict[str, Pin]:
        return effective(self.pin_overrides)

    def job(self, session: str) -> JobOptions:
        return self.jobs.get(session, JobOptions())


def load_config(root: Path) -> CiConfig:
    """Read and validate ``[tool.shipyard.ci]`` from ``root/pyproject.toml``; a missing table means defaults."""
    path = root / "pyproject.toml"
    file = str(path)
    data = _pyproject.load(path)
    table = data.get("tool", {}).get("shipyard", {}).get("ci", {})
    values = _pyproject.validate_table(table, _FIELDS, file=file, key=_KEY)
    for key in ("setup-sessions", "junit-sessions", "extra-sessions", "wheel-sessions"):
        if not all(isinstance(item, str) and item for item in values[key]):
            raise ConfigError("must be a list of session names (strings)", file=file, key=f"{_KEY}.{key}")
    if values["setup-sessions"] and not values["setup"]:
        raise ConfigError(
            "setup-sessions is set but setup is empty; add setup = 'bash ci/bootstrap.sh' (or your script)",
            file=file,
            key=f"{_KEY}.setup",
        )
    if _unlocked_uv(values["setup"]):
        raise ConfigError(
            f"{_unlocked_uv(values['setup'])!r} would re-lock (and rewrite uv.lock) on a stale lock; add --locked "
            "(or --frozen), or set UV_LOCKED=1",
            file=file,
            key=f"{_KEY}.setup",
        )
    if values["timeout-minutes"] <= 0:
        raise ConfigError("must be a positive number of minutes", file=file, key=f"{_KEY}.timeout-minutes")
    if not 1 <= values["shards"] <= 64:
        raise ConfigError("must be a whole number of shards from 1 to 64", file=file, key=f"{_KEY}.shards")
    if values["wheel-sessions"] and not values["build-session"]:
        raise ConfigError(
            "wheel-sessions is set but build-session is empty; add build-session = 'build' (the session that "
            "writes dist/)",
            file=file,
            key=f"{_KEY}.build-session",
        )
    if not values["actions-git-base"].strip("/"):
        raise ConfigError(
            "must be a git URL prefix such as https://github.com", file=file, key=f"{_KEY}.actions-git-base"
        )
    _check_cache(values, file=file)
    return CiConfig(
        noxfile=values["noxfile"],
        runs_on=values["runs-on"],
        uv_version=values["uv-version"],
        setup=values["setup"],
        setup_sessions=tuple(values["setup-sessions"]),
        junit_sessions=tuple(values["junit-sessions"]),
        timeout_minutes=values["timeout-minutes"],
        deploy=values["deploy"],
        deploy_main=values["deploy-main"],
        deploy_tag=values["deploy-tag"],
        pin_overrides=_pins(values["pins"], file=file),
        actions_git_base=values["actions-git-base"].rstrip("/"),
        extra_sessions=tuple(values["extra-sessions"]),
        build_session=values["build-session"],
        wheel_sessions=tuple(values["wheel-sessions"]),
        shards=values["shards"],
        shard_session=values["shard-session"],
        coverage=values["coverage"],
        coverage_group=values["coverage-group"],
        jobs={name: _job(name, spec, file=file) for name, spec in values["jobs"].items()},
        action=values["action"],
        cache_store=values["cache-store"].rstrip("/"),
        cache_aws_role=values["cache-aws-role"],
        cache_aws_region=values["cache-aws-region"],
    )


def _check_cache(values: Mapping[str, Any], *, file: str) -> None:
    store, role, region = values["cache-store"], values["cache-aws-role"], values["cache-aws-region"]
    if not store:
        for key, value in (("cache-aws-role", role), ("cache-aws-region", region)):
            if value:
                raise ConfigError(
                    f"is set but cache-store is empty; add cache-store = 's3://BUCKET/PREFIX' or drop {key}",
                    file=file,
                    key=f"{_KEY}.{key}",
                )
        return
    if not _STORE.fullmatch(store) or ".." in store:
        raise ConfigError(
            f"{store!r} is not an S3 store; use s3://BUCKET or s3://BUCKET/PREFIX (a bucket name: lowercase letters, "
            "digits, dots and dashes)",
            file=file,
            key=f"{_KEY}.cache-store",
        )
    if not _ROLE.fullmatch(role):
        raise ConfigError(
            f"{role!r} is not an IAM role ARN; set cache-aws-role = 'arn:aws:iam::<account>:role/<name>' (the role "
            "the session jobs assume by OIDC, docs/ci.md)"
            if role
            else "cache-store is set but cache-aws-role is empty; set cache-aws-role = "
            "'arn:aws:iam::<account>:role/<name>' (the role the session jobs assume by OIDC, docs/ci.md)",
            file=file,
            key=f"{_KEY}.cache-aws-role",
        )
    if not _REGION.fullmatch(region):
        raise ConfigError(
            f"{region!r} is not an AWS region; set cache-aws-region = 'eu-west-1' (the bucket's region)"
            if region
            else "cache-store is set but cache-aws-region is empty; set cache-aws-region = 'eu-west-1' (the bucket's "
            "region)",
            file=file,
            key=f"{_KEY}.cache-aws-region",
        )


def _unlocked_uv(command: str) -> str:
    """The first ``uv run``/``uv sync`` in ``command`` without --locked/--frozen ("" when there is none)."""
    if "UV_LOCKED=1" in command:
        return ""
    for part in re.split(r"&&|\|\||[;|\n]", command):
        if re.search(r"\buv\s+(run|sync)\b", part) and not re.search(r"\s--(locked|frozen)\b", part):
            return " ".join(part.split())
    return ""


def _pins(table: Mapping[str, Any], *, file: str) -> dict[str, Pin]:
    pins = {}
    for action, spec in table.items():
        key = f'{_KEY}.pins."{action}"'
        if not valid_action(action):
            raise ConfigError("is not an action name; use owner/repo or owner/repo/path", file=file, key=key)
        if not isinstance(spec, Mapping) or set(spec) != {"version", "sha"}:
            raise ConfigError(
                'must be { version = "vX.Y.Z", sha = "<40-hex commit>" }; `shipyard ci pins update` writes it',
                file=file,
                key=key,
            )
        version, sha = spec["version"], spec["sha"]
        if not isinstance(version, str) or not version:
            raise ConfigError("version must be the release tag, e.g. v7.0.1", file=file, key=f"{key}.version")
        if not isinstance(sha, str) or not is_sha(sha):
            raise ConfigError(
                f"sha {sha!r} is not a full 40-hex commit SHA; run `shipyard ci pins update {action}`",
                file=file,
                key=f"{key}.sha",
            )
        pins[action] = Pin(action, sha, version)
    return pins


def _job(name: str, spec: object, *, file: str) -> JobOptions:
    key = f"{_KEY}.jobs.{name}"
    values = _pyproject.validate_table(spec, _JOB_FIELDS, file=file, key=key)
    runs_on = values["runs-on"]
    labels = tuple(runs_on) if isinstance(runs_on, list) else ((runs_on,) if runs_on else ())
    if not all(isinstance(label, str) and label for label in labels) or (isinstance(runs_on, list) and not labels):
        raise ConfigError("must be a runner label or a non-empty list of labels", file=file, key=f"{key}.runs-on")
    if not all(isinstance(arg, str) and "${{" not in arg for arg in values["posargs"]):
        raise ConfigError(
            "must be a list of plain strings (arguments after --, no ${{ }} expressions)",
            file=file,
            key=f"{key}.posargs",
        )
    if values["fetch-depth"] < 0:
        raise ConfigError("must be 0 (full history) or a positive depth", file=file, key=f"{key}.fetch-depth")
    if values["timeout-minutes"] < 0:
        raise ConfigError("must be a positive number of minutes", file=file, key=f"{key}.timeout-minutes")
    return JobOptions(
        runs_on=labels,
        posargs=tuple(values["posargs"]),
        fetch_depth=values["fetch-depth"],
        timeout_minutes=values["timeout-minutes"],
    )
