"""An environment's deploy journal: append-only entries, written whole, read back even when some are damaged.

A deploy appends ``start`` before it touches anything, a ``phase`` entry as each phase is reached, and ``end``
last; ``unlock`` records a forced unlock. Each entry is one object of its own (a file in the Docker state
container, an S3 object), created once and never rewritten, so an append cannot damage an earlier entry and a
write cut short damages at most itself. A damaged entry is named in a warning and skipped.

Redaction happens on the VALUES of free-text fields before ``json.dumps``, never on the serialized line, and
never on identifiers (image references, digests, deploy ids, timestamps): a secret "1796" or "hello" must not
rewrite ``started_at`` or ``.../hello-service@sha256:...``.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard._logging import get_logger
from shipyard._secrets import IDENTIFIER_KEYS, redact_fields
from shipyard.deploy._model import HistoryRecord

__all__ = ["IDENTIFIERS", "VOCABULARY", "Journal", "OpenDeploy", "redact_entry"]

log = get_logger("shipyard.deploy")

#: Fields that identify things, kept whole (``shipyard._secrets.redact_fields``'s ``keep``) when their value has an
#: identifier's syntax: redacting them would break rollback and audit. A secret that is a whole component of one
#: (``registry/<secret>:tag``) is masked all the same.
IDENTIFIERS = IDENTIFIER_KEYS | {
    "env",
    "target",
    "revision",
    "rollback_to",
    "at",
    "duration",
    "container",
    "containers",
    "previous",
    "port",
    "slot",
    "task_definition",
    "previous_task_definition",
    "deployment_id",
    "rollout_state",
}
#: Fields whose values are Shipyard's own words ("start", "phase", "succeeded", "deploy"), copied verbatim: a
#: secret that happens to be the same word learns nothing from them, and masking one would lose the record.
VOCABULARY = frozenset({"kind", "phase", "result", "action"})
_WORD = re.compile(r"[a-z][a-z-]{0,31}")


def redact_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` redacted field by field before serialization: ``redact_fields`` with the journal's identifiers."""
    words = {k: v for k, v in entry.items() if k in VOCABULARY and isinstance(v, str) and _WORD.fullmatch(v)}
    rest = {k: v for k, v in entry.items() if k not in words}
    return {**redact_fields(rest, keep=IDENTIFIERS), **words}


@dataclass
class OpenDeploy:
    """A deploy with a start entry and no end entry."""

    start: dict[str, Any]
    phases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def deploy_id(self) -> str:
        return str(self.start.get("deploy_id", ""))

    @property
    def last_phase(self) -> str:
        return str(self.phases[-1].get("phase", "")) if self.phases else "start"


_counter = itertools.count()


def _checked(record: HistoryRecord) -> HistoryRecord:
    """``record`` if its fields have the types readers rely on, else ``ValueError``."""
    for name in ("started_at", "duration"):
        value = getattr(record, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} is {value!r}, not a number")
    for name in ("deploy_id", "env", "target", "image", "result", "who", "reason", "previous_image", "revision"):
        if not isinstance(getattr(record, name), str):
            raise ValueError(f"{name} is not a string")
    return record


class Journal:
    """The journal logic; subclasses store entries (``_write`` one named blob, ``_read`` them all)."""

    where = "the deploy journal"

    def __init__(self, env: str) -> None:
        self.env = env
        self.problems: list[str] = []

    # storage, by the subclasses
    def _write(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def _read(self) -> list[tuple[str, bytes]]:
        """Every stored entry as (where it is, bytes), oldest first (a ``.jsonl`` blob holds one entry a line)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ writing
    def append(self, entry: dict[str, Any]) -> None:
        entry = {"at": time.time(), **entry}
        data = json.dumps(redact_entry(entry), sort_keys=True, default=str).encode()
        name = f"{time.time_ns():020d}-{next(_counter):06d}-{entry.get('deploy_id', '')}-{entry.get('kind', '')}.json"
        self._write(name, data)

    # ------------------------------------------------------------------ reading
    def entries(self) -> list[dict[str, Any]]:
        self.problems = []
        found: list[dict[str, Any]] = []
        for name, data in self._read():
            for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
                if not line.strip():
                    continue
                where = name + (f" line {number}" if name.endswith(".jsonl") else "")
                try:
                    entry = json.loads(line)
                    if not isinstance(entry, dict):
                        raise ValueError(f"a JSON {type(entry).__name__}, not an object")
                    if "kind" not in entry:  # a record from before the journal: a whole deploy in one line
                        entry = {"kind": "record", **entry}
                    if not entry.get("deploy_id"):
                        raise ValueError("no deploy_id")
                except ValueError as exc:
                    self._problem(f"{where} is corrupt ({str(exc)[:80]}); skipped it")
                    continue
                found.append(entry)
        return found

    def _problem(self, message: str) -> None:
        self.problems.append(message)
        log.warning("deploy.history-corrupt", env=self.env, problem=message)

    def open_deploys(self) -> list[OpenDeploy]:
        """Deploys that started and never ended, oldest first."""
        opened: dict[str, OpenDeploy] = {}
        for entry in self.entries():
            deploy_id = str(entry["deploy_id"])
            if entry["kind"] == "start":
                opened[deploy_id] = OpenDeploy(entry)
            elif entry["kind"] == "phase" and deploy_id in opened:
                opened[deploy_id].phases.append(entry)
            elif entry["kind"] == "end":
                opened.pop(deploy_id, None)
        return list(opened.values())

    def records(self) -> list[HistoryRecord]:
        """One record per deploy (and per forced unlock), in the order they started."""
        starts: dict[str, dict[str, Any]] = {}
        ends: dict[str, dict[str, Any]] = {}
        phases: dict[str, str] = {}
        order: list[str] = []
        singles: dict[str, HistoryRecord] = {}
        for entry in self.entries():
            deploy_id, kind = str(entry["deploy_id"]), entry["kind"]
            try:
                if kind == "record":
                    singles[deploy_id] = _checked(HistoryRecord.from_dict(entry))
                elif kind == "unlock":
                    singles[deploy_id] = HistoryRecord(
                        deploy_id=deploy_id,
                        env=str(entry.get("env", self.env)),
                        target=str(entry.get("target", "")),
                        image="",
                        started_at=float(entry.get("at", 0)),
                        duration=0.0,
                        result="unlocked",
                        who=str(entry.get("who", "")),
                        reason=f"{entry.get('reason', '')} (lock held by {entry.get('holder') or 'nobody'})",
                        action="unlock",
                    )
                elif kind == "start":
                    starts[deploy_id] = entry
                elif kind == "phase":
                    phases[deploy_id] = str(entry.get("phase", ""))
                    continue
                elif kind == "end":
                    ends[deploy_id] = entry
                    continue
                else:
                    continue
            except (TypeError, ValueError) as exc:
                self._problem(f"{self.where}: entry of deploy {deploy_id} is unreadable ({exc}); skipped it")
                continue
            if deploy_id not in order:
                order.append(deploy_id)
        records = []
        for deploy_id in order:
            if deploy_id in singles:
                records.append(singles[deploy_id])
                continue
            start, end = starts[deploy_id], ends.get(deploy_id, {})
            try:
                records.append(
                    _checked(
                        HistoryRecord(
                            deploy_id=deploy_id,
                            env=str(start.get("env", self.env)),
                            target=str(start.get("target", "")),
                            image=str(start.get("image", "")),
                            started_at=float(start.get("started_at", start.get("at", 0))),
                            duration=float(end.get("duration", 0.0)),
                            result=end.get("result", "running"),
                            who=str(start.get("who", "")),
                            reason=str(end.get("reason", "")),
                            previous_image=str(end.get("previous_image", start.get("previous_image", ""))),
                            revision=str(end.get("revision", start.get("revision", ""))),
                            action=start.get("action", "deploy"),
                            phase=str(end.get("phase", phases.get(deploy_id, ""))),
                            rollback_to=str(start.get("rollback_to", "")),
                            verified=dict(start.get("verified") or {}),
                        )
                    )
                )
            except (TypeError, ValueError) as exc:
                self._problem(f"{self.where}: deploy {deploy_id} is unreadable ({exc}); skipped it")
        return records
