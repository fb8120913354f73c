"""What ``shipyard report`` draws: run reports read from ``.shipyard/runs`` and deploy history per environment.

Unreadable run files and unreachable histories never stop the report: each becomes a note shown at its top.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard._errors import ConfigError
from shipyard._secrets import redact

__all__ = ["Deploy", "ReportData", "Run", "Stage", "load_history", "load_runs", "parse_since"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Seconds one environment's history may take to read before the report goes on without it.
HISTORY_TIMEOUT = 30.0


def parse_since(text: str, *, now: float) -> float:
    """``--since``: a duration back from now (``30m``, ``12h``, ``7d``, ``2w``) or an ISO date or time (UTC)."""
    value = text.strip()
    if match := _DURATION.match(value):
        since = now - float(match.group(1)) * _UNIT[match.group(2)]
        if since < _FIRST:
            raise ConfigError(f"{text!r} goes back before the year 1; give a shorter duration or a date", key="--since")
        return since
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"cannot read {text!r}: give a duration (30m, 12h, 7d, 2w) or a date (2026-11-30)", key="--since"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


#: The times a report can show (a date between the years 1 and 9999, UTC).
_FIRST = dt.datetime(1, 1, 2, tzinfo=dt.UTC).timestamp()
_LAST = dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp()


def _ts(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    when = dt.datetime.fromisoformat(value)
    return _checked_time((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp())


def _checked_time(ts: float) -> float:
    if not _FIRST <= ts <= _LAST:
        raise ValueError(f"time out of range: {ts}")
    return ts


def _seconds(value: Any) -> float:
    seconds = float(value or 0.0)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {value!r}")
    return seconds


@dataclass(frozen=True)
class Stage:
    name: str
    state: str
    start: float | None
    end: float | None
    duration: float
    cache: str
    summary: str
    error: str


@dataclass(frozen=True)
class Run:
    pipeline: str
    result: str
    started: float
    ended: float
    stages: list[Stage]
    critical_path: list[str]
    file: str

    @property
    def duration(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class Deploy:
    env: str
    deploy_id: str
    action: str
    image: str
    previous_image: str
    result: str
    who: str
    started_at: float
    duration: float
    reason: str


@dataclass
class ReportData:
    runs: list[Run] = field(default_factory=list)
    deploys: dict[str, list[Deploy]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    since: float | None = None


def _run(data: Mapping[str, Any], file: str) -> Run:
    stages = [
        Stage(
            name=redact(str(s["name"])),
            state=str(s.get("state", "")),
            start=_ts(s.get("started")),
            end=_ts(s.get("ended")),
            duration=_seconds(s.get("duration_s")),
            cache=str(s.get("cache") or ""),
            summary=redact(str(s.get("summary") or "")),
            error=redact(str(s.get("error") or "")),
        )
        for s in data["stages"]
    ]
    started = _ts(data["started"])
    if started is None:
        raise ValueError("no start time")
    ended = _ts(data.get("ended")) or _checked_time(started + _seconds(data.get("duration_s")))
    return Run(
        pipeline=redact(str(data["pipeline"])),
        result=str(data.get("result", "")),
        started=started,
        ended=ended,
        stages=stages,
        critical_path=[redact(str(name)) for name in data.get("critical_path") or []],
        file=file,
    )


def load_runs(directory: Path, *, since: float | None = None) -> tuple[list[Run], list[str]]:
    """Every run report in ``directory`` (oldest first), and a note per file that could not be read."""
    runs: list[Run] = []
    notes: list[str] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if path.name == "latest.json":  # a copy of the newest report
            continue
        try:
            run = _run(json.loads(path.read_text(encoding="utf-8")), path.name)
        except (OSError, ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
            notes.append(f"skipped {path.name}: not a run report ({type(exc).__name__}: {redact(str(exc))[:120]})")
            continue
        if since is None or run.started >= since:
            runs.append(run)
    runs.sort(key=lambda run: run.started)
    return runs, notes


def _deploy(env: str, record: Any) -> Deploy:
    data: Mapping[str, Any] = record.to_dict() if hasattr(record, "to_dict") else record
    return Deploy(
        env=env,
        deploy_id=redact(str(data.get("deploy_id", ""))),
        action=str(data.get("action") or "deploy"),
        image=redact(str(data.get("image", ""))),
        previous_image=redact(str(data.get("previous_image") or "")),
        result=str(data.get("result", "")),
        who=redact(str(data.get("who", ""))),
        started_at=_checked_time(float(data.get("started_at") or 0.0)),
        duration=_seconds(data.get("duration")),
        reason=redact(str(data.get("reason") or "")),
    )


def _with_timeout(read: Callable[[], Iterable[Any]], timeout: float) -> list[Any]:
    # A daemon thread: an engine that never answers must not keep the report (or the process) waiting.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["records"] = list(read())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which turns it into a note
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="report-history")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer in {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return list(box["records"])


def load_history(
    environments: Mapping[str, Any],
    read: Callable[[Any], Iterable[Any]],
    *,
    since: float | None = None,
    timeout: float = HISTORY_TIMEOUT,
) -> tuple[dict[str, list[Deploy]], list[str]]:
    """Each environment's deploys (oldest first) read with ``read(env)``; a note for each one that failed."""
    deploys: dict[str, list[Deploy]] = {}
    notes: list[str] = []
    for name, env in environments.items():
        try:
            records = _with_timeout(functools.partial(read, env), timeout)
            items = [_deploy(name, record) for record in records]
        except Exception as exc:  # noqa: BLE001 - an unreachable target is a note in the report, not a crash
            notes.append(f"deploy history of {name!r} unavailable: {type(exc).__name__}: {redact(str(exc))[:200]}")
            continue
        deploys[name] = sorted((d for d in items if since is None or d.started_at >= since), key=lambda d: d.started_at)
    return deploys, notes
