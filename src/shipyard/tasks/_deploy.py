"""Tasks ``deploy``, ``rollback``, ``status`` and ``history``: each takes ``--env`` (default: the default env).

docker-py and boto3 are imported only inside the task bodies, so ``invoke --list`` stays fast.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from shipyard.tasks._base import shipyard_task

__all__ = ["deploy", "down", "history", "rollback", "status", "unlock"]

_ENV_HELP = "the environment, from [tool.shipyard.environments.*] (default: the one with default = true)"


def _emit(data: Any, *, as_json: bool, text: str) -> None:
    from shipyard._secrets import redact, redact_fields
    from shipyard._workflow_commands import safe

    # --json: every field redacted before serialization (identifiers such as image references kept whole).
    out = json.dumps(redact_fields(data), indent=2, sort_keys=True, default=str) if as_json else redact(text)
    print(safe(out))  # noqa: T201


def _finish(result: Any, *, as_json: bool) -> None:
    from shipyard._errors import DeployError

    lines = [
        f"{result.result}: {result.env} ({result.target}) {result.image} [{result.deploy_id}, {result.duration:.1f} s]"
    ]
    if result.ok and result.reason:  # a success with a caveat: a signal too late to undo, an old version's stop
        lines.append(f"note: {result.reason}")
    if "diff" in result.details:
        lines.append(result.details["diff"] or "(no change to the task definition)")
    if result.details.get("log_tail"):
        from shipyard._workflow_commands import in_github_actions, untrusted

        tail = str(result.details["log_tail"])
        tail = "\n".join(untrusted(tail.splitlines())) if in_github_actions() else tail
        lines.append("new container's last log lines:\n" + tail)
    _emit(result.to_dict(), as_json=as_json, text="\n".join(lines))
    if result.result == "interrupted":
        from shipyard._errors import DeployInterrupted

        raise DeployInterrupted(f"deploy to {result.env!r} {result.reason}")
    if not result.ok:
        raise DeployError(f"deploy to {result.env!r} {result.result}: {result.reason}")


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
def deploy(c: Any, env: str | None = None, image: str | None = None, dry_run: bool = False, json: bool = False) -> None:
    """Build, push and deploy the service to an environment, with health checks and automatic rollback."""
    _setup()
    from shipyard.deploy import deploy as run_deploy
    from shipyard.deploy import get_environment

    environment = get_environment(env)
    if image is not None:  # `--image ''` (an unset CI variable) is refused, never read as "build and push"
        from shipyard.tasks._options import image_option

        image = image_option(image, target=environment.target)
    _preflight(environment)
    if image:
        result = run_deploy(environment, image, dry_run=dry_run)
    else:
        from shipyard.deploy._chain import deploy_chain

        result = deploy_chain(environment, dry_run=dry_run)
    _finish(result, as_json=json)


def _preflight(environment: Any) -> None:
    """What can fail before a deploy starts does, before any lock or build: the docker target's secrets are
    read (and registered for redaction) now, so a missing, binary or too-short secret is one line up front."""
    if environment.target == "docker":
        _check_host(environment)
    if environment.target == "docker" and environment.secrets:
        from shipyard.deploy._secret_refs import resolve_values

        resolve_values(environment.secrets, environment.region)


def _check_host(environment: Any) -> None:
    import socket

    from shipyard._errors import ConfigError

    host = str(environment.setting("host"))
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(
            f"{host!r} does not resolve ({exc}); fix the host name or its DNS entry",
            file=environment.file,
            key=f"tool.shipyard.environments.{environment.name}.host",
        ) from exc


@shipyard_task(
    help={
        "env": _ENV_HELP,
        "to": "return to this deploy id or image (default: the deploy before the one serving now)",
        "dry_run": "show what would change and change nothing",
        "json": "print a machine-readable result",
    }
)
def rollback(c: Any, env: str | None = None, to: str = "", dry_run: bool = False, json: bool = False) -> None:
    """Return an environment to the deploy before the current one (again: one step further back), or to --to."""
    _setup()
    from shipyard.deploy import get_environment
    from shipyard.deploy import rollback as run_rollback

    _finish(run_rollback(get_environment(env), to=to, dry_run=dry_run), as_json=json)


@shipyard_task(help={"env": _ENV_HELP, "reason": "why (required; recorded in the history with your name)"})
def unlock(c: Any, env: str | None = None, reason: str = "") -> None:
    """Remove an environment's deploy lock whoever holds it (a dead deploy's), recorded in its history."""
    _setup()
    from shipyard.deploy import get_environment
    from shipyard.deploy._flow import unlock as run_unlock

    _emit({}, as_json=False, text=run_unlock(get_environment(env), reason))


@shipyard_task(help={"env": _ENV_HELP, "json": "print a machine-readable result"})
def status(c: Any, env: str | None = None, json: bool = False) -> None:
    """Show what runs in an environment."""
    _setup()
    from shipyard.deploy import get_environment
    from shipyard.deploy import status as run_status

    info = run_status(get_environment(env))
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
def down(c: Any, env: str | None = None, volumes: bool = False, json: bool = False) -> None:
    """Stop and remove an environment: its proxy and every version's container (history is kept)."""
    _setup()
    from shipyard._errors import ConfigError
    from shipyard.deploy import get_environment
    from shipyard.deploy._docker import DockerTarget
    from shipyard.deploy._model import who

    environment = get_environment(env)  # `--env ''` is refused there, never the default environment
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
def history(c: Any, env: str | None = None, json: bool = False, limit: str = "20") -> None:
    """Show an environment's deploy history (who, when, which image, result, duration)."""
    _setup()
    from shipyard.deploy import get_environment
    from shipyard.deploy import history as run_history
    from shipyard.tasks._options import positive_int

    count = positive_int(limit, "--limit")
    records = run_history(get_environment(env))[-count:]
    rows = []
    for r in records:
        when = datetime.datetime.fromtimestamp(r.started_at, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        line = f"{when}  {r.deploy_id}  {r.action:8}  {r.result:11}  {r.duration:6.1f}s  {r.who}  {r.image}"
        rows.append(line + (f"  ({r.reason})" if r.reason else ""))
    _emit([r.to_dict() for r in records], as_json=json, text="\n".join(rows) or "(no deploys yet)")


TASKS = (deploy, rollback, status, history, down, unlock)
