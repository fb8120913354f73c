"""The record of a run: written as JSON under ``.shipyard/runs/`` and rendered as a GitHub step summary.

Everything written is redacted twice: each string value before encoding, and the encoded text after.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard._secrets import redact
from shipyard.pipeline._model import FileArtifact, ImageArtifact, StageResult, StageState

__all__ = ["RunReport", "markdown_summary"]


def _jsonable(value: Any) -> Any:  # noqa: PLR0911 - one return per JSON type
    if isinstance(value, FileArtifact):
        return {"file": value.path}
    if isinstance(value, ImageArtifact):
        return {"image": value.ref, "digest": value.digest}
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(repr(value))


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class RunReport:
    """A finished (or interrupted) run: ``result`` is "passed", "failed" or "interrupted"."""

    pipeline: str
    started: float
    ended: float
    result: str
    stages: list[StageResult]
    critical_path: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.result == "passed"

    def stage(self, name: str) -> StageResult:
        for result in self.stages:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def failed(self) -> list[StageResult]:
        return [r for r in self.stages if r.state is StageState.FAILED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "result": self.result,
            "started": _iso(self.started),
            "ended": _iso(self.ended),
            "duration_s": round(self.ended - self.started, 3),
            "critical_path": self.critical_path,
            "warnings": self.warnings,
            "stages": [
                {
                    "name": r.name,
                    "state": r.state.value,
                    "started": _iso(r.start),
                    "ended": _iso(r.end),
                    "duration_s": round(r.duration, 3),
                    "cache": r.cache,
                    "key": r.key,
                    "miss_reason": r.miss_reason,
                    "origin": r.origin,
                    "inputs": r.inputs,
                    "attempts": r.attempts,
                    "summary": r.summary,
                    "error": r.error,
                    "outputs": r.outputs,
                }
                for r in self.stages
            ],
        }

    def to_json(self) -> str:
        return redact(json.dumps(_jsonable(self.as_dict()), indent=2))

    def write(self, directory: Path) -> Path:
        """Write the report as ``<directory>/<UTC time>-<pipeline>-<pid>.json`` and ``latest.json``."""
        directory.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.fromtimestamp(self.started, dt.UTC).strftime("%Y%m%dT%H%M%S.%f")
        path = directory / f"{stamp}-{self.pipeline}-{os.getpid()}.json"
        text = self.to_json()
        path.write_text(text)
        latest = directory / f".latest-{os.getpid()}.tmp"
        latest.write_text(text)
        latest.replace(directory / "latest.json")
        _prune(directory, keep=KEEP_REPORTS)
        self.path = path
        return path


#: Reports kept per directory; older ones are deleted so `.shipyard/runs/` does not grow without bound.
KEEP_REPORTS = 200


def _prune(directory: Path, *, keep: int) -> None:
    # Names start with a UTC timestamp, so sorting by name is sorting by age.
    reports = sorted(p for p in directory.glob("*.json") if p.name != "latest.json")
    for old in reports[:-keep]:
        old.unlink(missing_ok=True)


_ICON = {
    StageState.PASSED: "✅",
    StageState.CACHED: "⚡",
    StageState.FAILED: "❌",
    StageState.CANCELLED: "⛔",
    StageState.SKIPPED: "⏭️",
    StageState.PENDING: "…",
    StageState.RUNNING: "…",
}


def _mermaid_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in name)


def markdown_summary(report: RunReport) -> str:
    """A GitHub step summary: a table of stages and a mermaid gantt chart of when each ran."""
    lines = [
        f"### Pipeline `{report.pipeline}`: {report.result} in {report.ended - report.started:.1f} s",
        "",
        "| stage | result | cache | duration |",
        "|---|---|---|---|",
    ]
    for r in report.stages:
        cache = r.cache + (f" ({r.miss_reason})" if r.cache == "miss" and r.miss_reason else "")
        if r.state is StageState.CACHED and r.origin:
            cache = f"cached (from run {r.origin})"
        name, cache = (text.replace("|", "\\|") for text in (r.name, cache))  # a "|" is not a new column
        lines.append(f"| {name} | {_ICON[r.state]} {r.state.value} | {cache} | {r.duration:.1f} s |")
    if report.critical_path:
        lines += ["", f"Critical path: {' → '.join(report.critical_path)}"]
    if report.warnings:
        lines += ["", "**Warnings**", ""] + [f"- ⚠️ {warning}" for warning in report.warnings]
    lines += ["", "```mermaid", "gantt", "    dateFormat x", "    axisFormat %M:%S", f"    title {report.pipeline}"]
    for r in report.stages:
        if r.start is None or r.end is None:
            continue
        tag = {StageState.FAILED: "crit, ", StageState.CACHED: "done, "}.get(
            r.state, "active, " if r.state is StageState.PASSED else ""
        )
        start_ms = int(r.start * 1000)
        end_ms = max(int(r.end * 1000), start_ms + 1)
        lines.append(f"    {_mermaid_name(r.name)} : {tag}{_mermaid_name(r.name)}, {start_ms}, {end_ms}")
    lines += ["```", ""]
    for r in report.failed:
        # A fence longer than any backtick run in the output: the output cannot close it and add Markdown.
        fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", r.output))])
        summary = html.escape(r.name)
        lines += [
            f"<details><summary>{summary} output</summary>",
            "",
            fence,
            r.output.rstrip(),
            fence,
            "</details>",
            "",
        ]
    return redact("\n".join(lines))
