"""Tasks ``deploy``, ``rollback``, ``status`` and ``history``: each takes ``--env`` (default: the default env).

docker-py and boto3 are imported only inside the task bodies, so ``invoke --list`` stays fast.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from shipyard.tasks._base import shipyard_task

__all__ = ["deploy", "down", "history", "rollback", "status"]

_ENV_HELP = "the environment, from [tool.shipyard.environments.*] (default: the one with default = true)"


def _emit(data: Any, *, as_json: bool, text: str) -> None:
    from shipyard._secrets import redact

    print(redact(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else text))  # noqa: T201


def _finish(result: Any, *, as_json: bool) -> None:
    from shipyard._errors import DeployError

    lines = [
        f"{result.result}: {result.env} ({result.target}) {result.image} [{result.deploy_id}, {result.duration:.1f} s]"
    ]
    if "diff" in result.details:
        lines.append(result.details["diff"] or "(no change to the task definition)")
    if result.details.get("log_tail"):
        lines.append("new container's last log lines:\n" + result.details["log_tail"])
    _emit(result.to_dict(), as_json=as_json, text="\n".join(lines))
    if not result.ok:
        raise DeployError(f"deploy to {result.env!r} failed: {result.reason}")


def _setup() -> None:
    from shipyard._logging import configure

    configure()


@shipyard_task(
    help={
        "env": _ENV_HELP,
        "image": "deploy this image reference (repo@sha256:...) instead of building and pushing",
        "dry_run": "show what would change (ECS: the task-definition diff) and change nothing",
        "json": "print a machine-readable result",
    }
)
def deploy(c: Any, env: str = "", image: str = "", dry_run: bool = False, json: bool = False) -> None:
    """Build, push and deploy the service to an environment, with health checks and automatic rollback."""
    _setup()
    from shipyard.deploy import deploy as run_deploy
    from shipyard.deploy import get_environment

    environment = get_environment(env or None)
    if image:
        result = run_deploy(environment, image, dry_run=dry_run)
    else:
        from shipyard.deploy._chain import deploy_chain

        result = deploy_chain(environment, dry_run=dry_run)
    _finish(result, as_json=json)


@shipyard_task(help={"env": _ENV_HELP, "json": "print a machine-readable result"})
def rollback(c: Any, env: str = "", json: bool = False) -> None:
    """Return an environment to its previous successful deploy."""
    _setup()
    from shipyard.deploy import get_environment
    from shipyard.deploy import rollback as run_rollback

    _finish(run_rollback(get_environment(env or None)), as_json=json)


@shipyard_task(help={"env": _ENV_HELP, "json": "print a machine-readable result"})
def status(c: Any, env: str = "", json: bool = False) -> None:
    """Show what runs in an environment."""
    _setup()
    from shipyard.deploy import get_environment
    from shipyard.deploy import status as run_status

    info = run_status(get_environment(env or None))
    _emit(info, as_json=json, text=_status_text(info))


def _status_text(info: dict[str, Any]) -> str:
    lines = []
    for key, value in info.items():
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            lines.append(f"{key}:" + ("" if value else " none"))
            lines += ["  - " + ", ".join(f"{k}={v}" for k, v in item.items()) for item in value]
        elif isinstance(value, dict):
            lines.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


@shipyard_task(
    help={
        "env": _ENV_HELP,
        "volumes": "also remove the environment's named volumes (its data); kept by default",
        "json": "print a machine-readable result",
    }
)
def down(c: Any, env: str = "", volumes: bool = False, json: bool = False) -> None:
    """Stop and remove an environment: its proxy and every version's container (history is kept)."""
    _setup()
    from shipyard._errors import ConfigError
    from shipyard.deploy import get_environment
    from shipyard.deploy._docker import DockerTarget
    from shipyard.deploy._model import who

    environment = get_environment(env or None)
    if environment.target != "docker":
        raise ConfigError(f"`down` stops docker environments; {environment.name!r} is {environment.target}")
    target = DockerTarget(environment)
    lock = target.lock()
    lock.acquire(f"{who()} (down)")
    try:
        gone = target.down(volumes=volumes)
    finally:
        lock.release()
    removed = ", ".join(gone["containers"]) or "no containers"
    text = f"down: {environment.name}: removed {removed}" + (f" and proxy {gone['proxy']}" if gone["proxy"] else "")
    if volumes:
        text += f"; volumes removed: {', '.join(gone['volumes']) or 'none'}"
    _emit(gone, as_json=json, text=text)


@shipyard_task(help={"env": _ENV_HELP, "json": "print machine-readable records", "limit": "show the last N"})
def history(c: Any, env: str = "", json: bool = False, limit: int = 20) -> None:
    """Show an environment's deploy history (who, when, which image, result, duration)."""
    _setup()
    from shipyard.deploy import get_environment
    from shipyard.deploy import history as run_history

    records = run_history(get_environment(env or None))[-limit:]
    rows = []
    for r in records:
        when = datetime.datetime.fromtimestamp(r.started_at, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        line = f"{when}  {r.action:8}  {r.result:9}  {r.duration:6.1f}s  {r.who}  {r.image}"
        rows.append(line + (f"  ({r.reason})" if r.reason else ""))
    _emit([r.to_dict() for r in records], as_json=json, text="\n".join(rows) or "(no deploys yet)")


TASKS = (deploy, rollback, status, history, down)
