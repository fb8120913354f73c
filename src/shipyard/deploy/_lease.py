"""The deploy lock as a lease: taken with a compare-and-set, renewed by a heartbeat, released by its holder only.

A lease is stale only when its holder stopped renewing it for ``lock_ttl`` seconds (it was killed, or lost its
connection), however long its deploy takes. Every change is conditional on what the changer last saw (a
container id on the Docker host, an ETag on S3), so a deployer that lost its lease can neither renew nor delete
the new holder's. Staleness is judged with the deployers' clocks (wall time), so they must be roughly in sync
(within a small part of ``lock_ttl``).

A backend stores one lease object and offers four conditional operations (see ``LeaseBackend``).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from shipyard._errors import DeployError
from shipyard._logging import get_logger

__all__ = ["Lease", "LeaseBackend", "LeaseInfo"]

log = get_logger("shipyard.deploy")


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as read: who holds it, when it was taken and last renewed, and the token changes are conditional on.
    ``corrupt`` says why the object could not be read (its age then comes from the store's own timestamp)."""

    holder: str
    lease: str
    since: float
    renewed: float
    token: Any
    corrupt: str = ""


class LeaseBackend(Protocol):
    where: str

    def create(self, holder: str, lease: str, now: float) -> Any | None:
        """Create the lease object if there is none (atomically); return its token, or None if one exists."""

    def read(self) -> LeaseInfo | None:
        """The lease object now, or None."""

    def renew(self, token: Any, lease: str, now: float) -> Any | None:
        """Record a heartbeat if the object is still ``token`` of ``lease``; the new token, or None if not."""

    def delete(self, token: Any) -> bool:
        """Delete the object only if it is still ``token``; whether it was deleted."""


class Lease:
    """One deployer's hold on an environment's lease (implements ``shipyard.deploy.Lock``)."""

    def __init__(self, backend: LeaseBackend, env: str, ttl: float, heartbeat: float) -> None:
        self.backend, self.env, self.ttl, self.heartbeat = backend, env, ttl, heartbeat
        self.lease = uuid.uuid4().hex
        self._token: Any = None
        self._lost = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token_lock = threading.Lock()

    # ------------------------------------------------------------------ taking and giving back
    def acquire(self, holder: str) -> None:
        try:
            self._acquire(holder)
        except DeployError:
            raise
        except Exception as exc:  # a third-party error (the engine or S3 failing): one line naming the lock
            raise DeployError(f"deploy lock {self.backend.where}: {type(exc).__name__}: {exc}"[:400]) from exc

    def _acquire(self, holder: str) -> None:
        for _attempt in range(3):
            token = self.backend.create(holder, self.lease, time.time())
            if token is not None:
                self._token = token
                self._start_heartbeat()
                log.info("lock.acquired", env=self.env, holder=holder, where=self.backend.where)
                return
            current = self.backend.read()
            if current is None:
                continue  # released in between: try again
            age = time.time() - current.renewed
            if age <= self.ttl:
                if current.corrupt:
                    raise DeployError(
                        f"environment {self.env!r}: the deploy lock {self.backend.where} is unreadable "
                        f"({current.corrupt}), last changed {age:.0f} s ago; it counts as stale after "
                        f"{self.ttl:.0f} s, or remove it with `invoke unlock --env {self.env} --reason ...`"
                    )
                raise DeployError(
                    f"environment {self.env!r} is locked by {current.holder} (renewed {age:.0f} s ago, taken "
                    f"{time.time() - current.since:.0f} s ago); wait for that deploy, or if it is dead the lock "
                    f"expires {self.ttl - age:.0f} s after its last renewal"
                )
            log.warning(
                "lock.stale",
                env=self.env,
                holder=current.holder,
                corrupt=current.corrupt,
                renewed_ago=round(age, 1),
                note="its holder stopped renewing it: taking it over",
            )
            self.backend.delete(current.token)  # only that stale object: a fresh one taken meanwhile survives
        raise DeployError(f"environment {self.env!r}: the deploy lock was just taken by another deploy; try again")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._token_lock:
            token, self._token = self._token, None
        if token is None:
            return
        try:
            deleted = self.backend.delete(token)
        except Exception as exc:  # noqa: BLE001 - the deploy's own outcome matters more; the lease expires anyway
            log.warning("lock.release-failed", env=self.env, error=f"{type(exc).__name__}: {exc}"[:200])
            return
        if not deleted:
            log.warning("lock.not-ours", env=self.env, note="the lease had been taken over; left it alone")
        else:
            log.info("lock.released", env=self.env)

    def check(self) -> None:
        if self._lost:
            raise DeployError(f"environment {self.env!r}: lost the deploy lock ({self._lost}); stopping this deploy")

    # ------------------------------------------------------------------ heartbeat
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.env}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.heartbeat):
            try:
                with self._token_lock:
                    if self._token is None:
                        return
                    token = self.backend.renew(self._token, self.lease, time.time())
                    if token is None:
                        self._lost = "another deploy took it over"
                        self._token = None
                    else:
                        self._token = token
                if token is None:
                    log.error("lock.lost", env=self.env, reason=self._lost)
                    return
                last_ok = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - a failed heartbeat is retried until the lease would expire
                log.warning("lock.renew-failed", env=self.env, error=f"{type(exc).__name__}: {exc}"[:200])
                if time.monotonic() - last_ok > self.ttl:
                    self._lost = f"could not renew it for {self.ttl:.0f} s"
                    return

    # forcing (invoke unlock) ---------------------------------------------------------
    def current(self) -> LeaseInfo | None:
        return self.backend.read()

    def force(self) -> LeaseInfo | None:
        """Remove whatever lease is there now (``invoke unlock``); the removed one, or None."""
        current = self.backend.read()
        if current is not None and self.backend.delete(current.token):
            return current
        return None
