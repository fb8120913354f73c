"""The deploy flow every target shares: lease, recover, journal, ship, end record, release; rollback; unlock.

A deploy writes ``start`` to the environment's journal before the target touches anything, a ``phase`` entry at
each step the target reports, and ``end`` last, whatever happened (succeeded, failed, rolled-back, interrupted).
A deploy that finds a ``start`` with no ``end`` once it holds the lease (so that deploy's holder stopped renewing
it) asks the target to undo what the journal says was left, and ends it ``abandoned``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from shipyard._errors import DeployError, DeployInterrupted
from shipyard._logging import get_logger
from shipyard.attest._gate import check as check_gate
from shipyard.deploy._config import Environment
from shipyard.deploy._interrupt import Interrupts, catching_signals
from shipyard.deploy._model import (
    DeployResult,
    HistoryRecord,
    HistoryStore,
    Lock,
    Outcome,
    Shipped,
    Target,
    new_deploy_id,
    who,
)

__all__ = ["deploy", "history", "make_target", "rollback", "status", "unlock"]

log = get_logger("shipyard.deploy")

#: Phases a target reports while undoing; they never raise (an undo must run to its end).
UNDO_PHASES = frozenset({"rolled-back", "restoring", "restored"})
#: Phases past the point of no return ("stopping": the old version is being taken out and stopped, the new one
#: proven): they never raise either; a signal then is recorded with the outcome, it does not undo a finished deploy.
COMMITTED_PHASES = frozenset({"stopping", "drained"})


def make_target(env: Environment) -> Target:
    """The target an environment names (its modules, and docker-py or boto3, load only now)."""
    if env.target == "ecs":
        from shipyard.deploy._ecs import EcsTarget

        return EcsTarget(env)
    from shipyard.deploy._docker import DockerTarget

    return DockerTarget(env)


class JournalProgress:
    """The ``Progress`` a target reports to: journals and logs each phase, raises once a stop was asked for."""

    def __init__(
        self, journal: HistoryStore, env: Environment, deploy_id: str, interrupts: Interrupts, lock: Lock
    ) -> None:
        self.journal, self.env, self.deploy_id = journal, env, deploy_id
        self.interrupts, self.lock = interrupts, lock
        self.reached: list[str] = []

    def phase(self, name: str, **details: Any) -> None:
        self.reached.append(name)
        self.journal.append({"kind": "phase", "deploy_id": self.deploy_id, "phase": name, **details})
        log.info("deploy.phase", env=self.env.name, deploy_id=self.deploy_id, phase=name, **details)
        if name not in UNDO_PHASES | COMMITTED_PHASES:
            self.check()

    def check(self) -> None:
        self.interrupts.check()
        self.lock.check()

    @property
    def last(self) -> str:
        return self.reached[-1] if self.reached else "start"


class _NoProgress:
    """For dry runs: nothing is journaled, a signal still stops it."""

    def __init__(self, interrupts: Interrupts) -> None:
        self.interrupts = interrupts

    def phase(self, name: str, **details: Any) -> None:
        self.interrupts.check()

    def check(self) -> None:
        self.interrupts.check()


def recover(env: Environment, target: Target, journal: HistoryStore) -> list[str]:
    """End every deploy the journal shows started and never ended, after the target undid what it left.

    Call only while holding the lease: then no live deployer owns those deploys (its lease would still be there).
    """
    from shipyard.deploy._journal import Journal

    done = []
    opened = journal.open_deploys() if isinstance(journal, Journal) else []
    for dead in opened:
        try:
            what = target.recover(dead.deploy_id, dead.phases)
        except Exception as exc:
            raise DeployError(
                f"deploy {dead.deploy_id} died during phase {dead.last_phase!r} and what it left could not be "
                f"cleaned up ({type(exc).__name__}: {exc}); fix that and deploy again"[:500]
            ) from exc
        reason = f"its deployer stopped during phase {dead.last_phase!r} and never came back; {what}"
        journal.append(
            {
                "kind": "end",
                "deploy_id": dead.deploy_id,
                "result": "abandoned",
                "reason": reason,
                "phase": dead.last_phase,
                "duration": _since(dead.start.get("started_at")),
            }
        )
        log.warning("deploy.abandoned", env=env.name, deploy_id=dead.deploy_id, phase=dead.last_phase, done=what)
        done.append(f"{dead.deploy_id}: {what}")
    return done


def _since(started_at: object) -> float:
    """Seconds since ``started_at`` (0 when a damaged record holds no number there)."""
    if isinstance(started_at, int | float) and not isinstance(started_at, bool):
        return round(max(time.time() - started_at, 0.0), 3)
    return 0.0


def deploy(
    env: Environment,
    image: str,
    *,
    dry_run: bool = False,
    target: Target | None = None,
    revision: str = "",
    action: str = "deploy",
    rollback_to: str = "",
    interrupts: Interrupts | None = None,
) -> DeployResult:
    """Deploy ``image`` to ``env`` under its lease; journal every phase and the outcome, whatever happens.

    SIGINT/SIGTERM (or ``interrupts.trip()`` from another thread) stop the deploy at its next phase or wait-loop
    check: the target puts the previous version back and the result is ``interrupted``.
    """
    verified = check_gate(env, image)  # before anything changes: a refusal is one line naming the failed rule
    target = target or make_target(env)
    check_image = getattr(target, "check_image", None)  # the docker target: an id absent from the host
    if check_image is not None:
        check_image(image)  # before the lease, the journal or any container: a refusal changes nothing
    interrupts = interrupts or Interrupts()
    deploy_id = new_deploy_id()
    log.info("deploy.start", env=env.name, image=image, deploy_id=deploy_id, dry_run=dry_run, action=action)
    started, t0 = time.time(), time.monotonic()
    with catching_signals(interrupts):
        if dry_run:
            shipped = target.ship(image, deploy_id, progress=_NoProgress(interrupts), dry_run=True, revision=revision)
            return _result(
                env, deploy_id, image, shipped, outcome="dry-run", duration=time.monotonic() - t0, verified=verified
            )
        lock = target.lock()
        lock.acquire(f"{who()} ({action} {deploy_id})")
        try:
            journal = target.history()
            recovered = recover(env, target, journal)
            journal.append(
                {
                    "kind": "start",
                    "deploy_id": deploy_id,
                    "env": env.name,
                    "target": env.target,
                    "image": image,
                    "who": who(),
                    "action": action,
                    "started_at": started,
                    "revision": revision,
                    "rollback_to": rollback_to,
                    "verified": verified or {},
                }
            )
            progress = JournalProgress(journal, env, deploy_id, interrupts, lock)
            outcome: Outcome
            try:
                progress.check()
                shipped = target.ship(image, deploy_id, progress=progress, revision=revision)
                outcome = (
                    "succeeded" if shipped.ok else ("rolled-back" if "rolled-back" in progress.reached else "failed")
                )
                if shipped.ok and interrupts.tripped:  # the signal came past the point of no return
                    shipped = _too_late(shipped, interrupts.signal_name, progress.last)
                    log.warning("deploy.interrupt-too-late", env=env.name, deploy_id=deploy_id, reason=shipped.reason)
            except DeployInterrupted as exc:
                shipped, outcome = Shipped(False, f"{exc} during phase {progress.last!r}"), "interrupted"
            except DeployError as exc:
                shipped, outcome = Shipped(False, str(exc)), "failed"
            except BaseException as exc:  # a bug or KeyboardInterrupt: still end the record, then let it through
                reason = f"{type(exc).__name__}: {exc}"[:300]
                _end(
                    journal,
                    deploy_id,
                    Shipped(False, reason),
                    "failed",
                    phase=progress.last,
                    duration=time.monotonic() - t0,
                )
                raise
            if recovered:
                shipped = Shipped(
                    shipped.ok,
                    shipped.reason,
                    shipped.previous_image,
                    shipped.revision,
                    {**shipped.details, "recovered": recovered},
                )
            result = _result(
                env, deploy_id, image, shipped, outcome=outcome, duration=time.monotonic() - t0, verified=verified
            )
            _end(journal, deploy_id, shipped, outcome, phase=progress.last, duration=result.duration)
        finally:
            lock.release()
    log.info("deploy.end", env=env.name, deploy_id=deploy_id, result=outcome, duration=result.duration)
    return result


def _too_late(shipped: Shipped, signal_name: str, last: str) -> Shipped:
    """A deploy that finished although a signal arrived: it came past the point of no return (docker: "stopping")."""
    note = (
        f"{signal_name} arrived past the point of no return (last phase {last!r}, the new version proven and "
        "serving): too late to undo, the deploy finished"
    )
    reason = f"{shipped.reason}; {note}" if shipped.reason else note
    return Shipped(shipped.ok, reason, shipped.previous_image, shipped.revision, shipped.details)


def _end(journal: HistoryStore, deploy_id: str, shipped: Shipped, outcome: str, *, phase: str, duration: float) -> None:
    journal.append(
        {
            "kind": "end",
            "deploy_id": deploy_id,
            "result": outcome,
            "reason": shipped.reason,
            "phase": phase,
            "duration": round(duration, 3),
            "previous_image": shipped.previous_image,
            "revision": shipped.revision,
        }
    )


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


def serving_line(records: list[HistoryRecord]) -> tuple[HistoryRecord | None, dict[str, HistoryRecord | None]]:
    """Replay the history: the deploy whose version serves now, and for each deploy the one it replaced.

    A successful deploy replaces what served before it; a successful rollback returns to the deploy it names, so
    rolling back again goes one step further back (not a toggle between the last two).
    """
    by_id = {r.deploy_id: r for r in records}
    serving: HistoryRecord | None = None
    parent: dict[str, HistoryRecord | None] = {}
    for record in records:
        if record.result != "succeeded" and not _kept(record):
            continue
        if record.action == "rollback" and record.rollback_to in by_id:
            serving = by_id[record.rollback_to]
        elif record.action in {"deploy", "rollback"}:
            parent[record.deploy_id] = serving
            serving = record
    return serving, parent


#: How a target's ``recover`` says it kept a killed deploy's version (proven before it died, serving now).
_KEPT = re.compile(r"; (?:kept \S+ \(proven before the deploy died\)|its rollout had completed; \S+ kept)(?:;|$)")


def _kept(record: HistoryRecord) -> bool:
    """An ``abandoned`` deploy whose version the next deploy's recovery kept: it serves, so it counts as deployed."""
    return record.result == "abandoned" and _KEPT.search(record.reason) is not None


def rollback_plan(records: list[HistoryRecord], to: str = "") -> tuple[HistoryRecord, HistoryRecord | None]:
    """(the deploy to return to, the one serving now). ``to`` is a deploy id or an image reference."""
    serving, parent = serving_line(records)
    if to:
        deployed = [r for r in records if r.result == "succeeded" and r.action in {"deploy", "rollback"}]
        match = next((r for r in deployed if r.deploy_id == to), None)
        match = match or next((r for r in reversed(deployed) if r.image == to and r.action == "deploy"), None)
        match = match or next((r for r in reversed(deployed) if r.image == to), None)
        if match is None:
            raise DeployError(
                f"--to {to!r} is neither a deploy id nor an image of a successful deploy in this history; "
                "see `invoke history`, or deploy it with `invoke deploy --image`"
            )
        return _deployable(match), serving
    previous = parent.get(serving.deploy_id) if serving else None
    if serving is None or previous is None:
        raise DeployError("there is no earlier successful deploy to roll back to (see `invoke history`)")
    return _deployable(previous), serving


def _deployable(record: HistoryRecord) -> HistoryRecord:
    """``record``, refused when its image was masked in the journal (a secret is a whole component of it: storing
    it would store the secret), before the lease or anything else: that reference cannot be deployed again."""
    from shipyard._secrets import MASK

    if MASK in record.image:
        raise DeployError(
            f"deploy {record.deploy_id}'s image is masked in the history ({record.image}: a secret is a whole "
            "component of its name), so it cannot be deployed from there: `invoke deploy --image <that image>`"
        )
    return record


def rollback(
    env: Environment,
    *,
    target: Target | None = None,
    dry_run: bool = False,
    to: str = "",
    interrupts: Interrupts | None = None,
) -> DeployResult:
    """Return to the deploy before the one serving now (each rollback one step further back), or to ``to``."""
    target = target or make_target(env)
    try:
        chosen, current = rollback_plan(target.history().records(), to)
    except DeployError as exc:
        raise DeployError(f"environment {env.name!r}: {exc}") from None
    log.info("rollback.plan", env=env.name, current=current.image if current else "", to=chosen.image)
    return deploy(
        env,
        chosen.image,
        dry_run=dry_run,
        target=target,
        revision=chosen.revision,
        action="rollback",
        rollback_to=chosen.deploy_id,
        interrupts=interrupts,
    )


def unlock(env: Environment, reason: str, *, target: Target | None = None) -> str:
    """Remove the environment's lock whoever holds it, and record who did it and why. Returns what was done."""
    if not reason.strip():
        raise DeployError(f'unlock {env.name!r}: say why with --reason "..." (it is recorded in the history)')
    target = target or make_target(env)
    lock = target.lock()
    removed = lock.force() if hasattr(lock, "force") else None
    if removed is None:
        return f"environment {env.name!r} was not locked; nothing removed, nothing recorded"
    holder = removed.holder if not removed.corrupt else f"an unreadable lock ({removed.corrupt})"
    target.history().append(
        {
            "kind": "unlock",
            "deploy_id": new_deploy_id(),
            "env": env.name,
            "target": env.target,
            "who": who(),
            "reason": reason,
            "holder": holder,
        }
    )
    log.warning("deploy.unlocked", env=env.name, holder=holder, reason=reason)
    return f"environment {env.name!r} unlocked (it was held by {holder}); recorded in its history"
