"""What a deploy produces and records: results, history records, and the seams each target implements."""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "DeployResult",
    "HistoryRecord",
    "HistoryStore",
    "Lock",
    "Outcome",
    "Shipped",
    "Target",
    "new_deploy_id",
    "who",
]

Outcome = Literal["succeeded", "failed", "rolled-back", "dry-run"]


def new_deploy_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def who() -> str:
    """``user@host`` of the deployer (``SHIPYARD_DEPLOYER`` overrides, e.g. a CI run URL)."""
    if os.environ.get("SHIPYARD_DEPLOYER"):
        return os.environ["SHIPYARD_DEPLOYER"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class HistoryRecord:
    """One deploy in an environment's history. Never holds a secret value (only variable names)."""

    deploy_id: str
    env: str
    target: str
    image: str
    started_at: float
    duration: float
    result: Outcome
    who: str
    reason: str = ""
    previous_image: str = ""
    revision: str = ""
    action: Literal["deploy", "rollback"] = "deploy"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, result: DeployResult, *, started_at: float, who: str, action: str) -> HistoryRecord:
        """The record of ``result`` (its ``details`` stay out: history holds what a person audits)."""
        return cls(
            deploy_id=result.deploy_id,
            env=result.env,
            target=result.target,
            image=result.image,
            started_at=started_at,
            duration=result.duration,
            result=result.result,
            who=who,
            reason=result.reason,
            previous_image=result.previous_image,
            revision=result.revision,
            action="rollback" if action == "rollback" else "deploy",
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class DeployResult:
    """What ``deploy`` returns (and ``--json`` prints)."""

    deploy_id: str
    env: str
    target: str
    image: str
    result: Outcome
    duration: float
    reason: str = ""
    previous_image: str = ""
    revision: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result in {"succeeded", "dry-run"}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class Lock(Protocol):
    """A per-environment deploy lock stored where the target lives."""

    def acquire(self, holder: str) -> None:
        """Take the lock, or raise ``DeployError`` naming the current holder. A stale lock is taken over."""

    def release(self) -> None: ...


class HistoryStore(Protocol):
    """An environment's deploy history, stored where the target lives."""

    def append(self, record: HistoryRecord) -> None: ...

    def records(self) -> list[HistoryRecord]:
        """Oldest first."""
        ...


@dataclass(frozen=True)
class Shipped:
    """What a target did with one image: ``ok`` or why not, and what it replaced."""

    ok: bool
    reason: str = ""
    previous_image: str = ""
    revision: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Progress(Protocol):
    """What a target reports while it ships, phase by phase; the deploy flow journals each phase."""

    def phase(self, name: str, **details: Any) -> None:
        """Record that phase ``name`` was reached. Raises ``DeployInterrupted`` when a stop was asked for."""

    def check(self) -> None:
        """Raise ``DeployInterrupted`` when SIGINT or SIGTERM arrived; targets call it inside every wait loop."""


class Target(Protocol):
    """A place to deploy to (``docker`` host or ``ecs`` service): the seam the deploy flow drives."""

    kind: str

    def lock(self) -> Lock: ...

    def history(self) -> HistoryStore: ...

    def ship(self, image: str, deploy_id: str, *, dry_run: bool = False, revision: str = "") -> Shipped:
        """Deploy ``image``; on failure leave (or put back) the previous version serving and say why."""
        ...

    def status(self) -> dict[str, Any]:
        """What runs now (image, revision, health), JSON-ready."""
        ...
