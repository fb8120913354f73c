"""The deploy flow every target shares: lock, ship, record history, unlock; rollback; status; history."""

from __future__ import annotations

import time
from typing import Any

from shipyard._errors import DeployError
from shipyard._logging import get_logger
from shipyard.attest._gate import check as check_gate
from shipyard.deploy._config import Environment
from shipyard.deploy._model import DeployResult, HistoryRecord, Outcome, Shipped, Target, new_deploy_id, who

__all__ = ["deploy", "history", "make_target", "rollback", "status"]

log = get_logger("shipyard.deploy")


def make_target(env: Environment) -> Target:
    """The target an environment names (its modules, and docker-py or boto3, load only now)."""
    if env.target == "ecs":
        from shipyard.deploy._ecs import EcsTarget

        return EcsTarget(env)
    from shipyard.deploy._docker import DockerTarget

    return DockerTarget(env)


def deploy(
    env: Environment,
    image: str,
    *,
    dry_run: bool = False,
    target: Target | None = None,
    revision: str = "",
    action: str = "deploy",
) -> DeployResult:
    """Deploy ``image`` to ``env`` under its lock, and record the outcome (success or failure) in its history."""
    verified = check_gate(env, image)  # before anything changes: a refusal is one line naming the failed rule
    target = target or make_target(env)
    deploy_id = new_deploy_id()
    log.info("deploy.start", env=env.name, image=image, deploy_id=deploy_id, dry_run=dry_run, action=action)
    started, t0 = time.time(), time.monotonic()
    if dry_run:
        shipped = target.ship(image, deploy_id, dry_run=True, revision=revision)
        return _result(
            env, deploy_id, image, shipped, outcome="dry-run", duration=time.monotonic() - t0, verified=verified
        )
    lock = target.lock()
    lock.acquire(f"{who()} ({action} {deploy_id})")
    try:
        try:
            shipped = target.ship(image, deploy_id, revision=revision)
        except DeployError as exc:
            shipped = Shipped(False, str(exc))
        outcome: Outcome = "succeeded" if shipped.ok else "failed"
        result = _result(
            env, deploy_id, image, shipped, outcome=outcome, duration=time.monotonic() - t0, verified=verified
        )
        target.history().append(HistoryRecord.of(result, started_at=started, who=who(), action=action))
    finally:
        lock.release()
    log.info("deploy.end", env=env.name, deploy_id=deploy_id, result=outcome, duration=result.duration)
    return result


def _result(
    env: Environment,
    deploy_id: str,
    image: str,
    shipped: Shipped,
    *,
    outcome: Outcome,
    duration: float,
    verified: dict[str, Any] | None = None,
) -> DeployResult:
    return DeployResult(
        deploy_id=deploy_id,
        env=env.name,
        target=env.target,
        image=image,
        result=outcome,
        duration=round(duration, 3),
        reason=shipped.reason,
        previous_image=shipped.previous_image,
        revision=shipped.revision,
        details={**shipped.details, "verified": verified} if verified else shipped.details,
    )


def history(env: Environment, *, target: Target | None = None) -> list[HistoryRecord]:
    return (target or make_target(env)).history().records()


def status(env: Environment, *, target: Target | None = None) -> dict[str, Any]:
    return (target or make_target(env)).status()


def rollback(env: Environment, *, target: Target | None = None, dry_run: bool = False) -> DeployResult:
    """Return to the successful deploy before the current one (by its image, and its ECS revision)."""
    target = target or make_target(env)
    good = [r for r in target.history().records() if r.result == "succeeded"]
    earlier = [r for r in good[:-1] if r.image != good[-1].image] if good else []
    if not earlier:
        raise DeployError(f"environment {env.name!r} has no earlier successful deploy to roll back to")
    current, previous = good[-1], earlier[-1]
    log.info("rollback.plan", env=env.name, current=current.image, to=previous.image)
    return deploy(env, previous.image, dry_run=dry_run, target=target, revision=previous.revision, action="rollback")
