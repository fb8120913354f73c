"""Output channels of a run. The runner emits events; reporters render them, each redacting what it writes.

- ``LogReporter``: structlog events (plain lines off a terminal, JSON lines in CI or with ``--log-format json``);
- ``GitHubReporter``: ``::group::``/``::error::`` workflow commands and a Markdown step summary;
- ``LiveReporter`` (``shipyard.pipeline._live``): a rich live table on a terminal.

``default_reporters`` picks them from the environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from shipyard._secrets import redact
from shipyard._workflow_commands import escape_data, escape_property, untrusted
from shipyard.pipeline._model import StageResult, StageState

if TYPE_CHECKING:
    from shipyard.pipeline._graph import Graph
    from shipyard.pipeline._report import RunReport

__all__ = ["GitHubReporter", "LogReporter", "Reporter", "Reporters", "default_reporters"]


class Reporter(Protocol):
    """Receives a run's events. Methods are called from the event loop thread and must not block long."""

    def run_started(self, name: str, graph: Graph) -> None: ...

    def stage_started(self, result: StageResult) -> None: ...

    def stage_output(self, stage: str, line: str) -> None: ...

    def stage_finished(self, result: StageResult) -> None: ...

    def run_finished(self, report: RunReport) -> None: ...


class Reporters:
    """Fans every event out to several reporters."""

    def __init__(self, reporters: Sequence[Reporter]) -> None:
        self.reporters = list(reporters)

    def run_started(self, name: str, graph: Graph) -> None:
        for r in self.reporters:
            r.run_started(name, graph)

    def stage_started(self, result: StageResult) -> None:
        for r in self.reporters:
            r.stage_started(result)

    def stage_output(self, stage: str, line: str) -> None:
        for r in self.reporters:
            r.stage_output(stage, line)

    def stage_finished(self, result: StageResult) -> None:
        for r in self.reporters:
            r.stage_finished(result)

    def run_finished(self, report: RunReport) -> None:
        for r in self.reporters:
            r.run_finished(report)


class LogReporter:
    """One structlog event per stage transition; a failed stage's full output goes in its event."""

    def __init__(self, *, output_lines: bool = False) -> None:
        from shipyard._logging import get_logger

        self.log = get_logger("pipeline")
        self.output_lines = output_lines

    def run_started(self, name: str, graph: Graph) -> None:
        self.log.info("run started", pipeline=name, stages=list(graph.order))

    def stage_started(self, result: StageResult) -> None:
        self.log.info("stage started", stage=result.name)

    def stage_output(self, stage: str, line: str) -> None:
        if self.output_lines:
            self.log.info("output", stage=stage, line=line)

    def stage_finished(self, result: StageResult) -> None:
        fields = {
            "stage": result.name,
            "state": result.state.value,
            "duration_s": round(result.duration, 3),
            "cache": result.cache,
        }
        if result.miss_reason:
            fields["miss_reason"] = result.miss_reason
        if result.origin and result.state is StageState.CACHED:
            fields["cached_from"] = result.origin
        if result.state is StageState.FAILED:
            self.log.error("stage failed", error=result.error, output=result.output, **fields)
        else:
            self.log.info("stage finished", summary=result.summary, **fields)

    def run_finished(self, report: RunReport) -> None:
        # A run that did not pass is logged as an error, so a log filter on level never mistakes it for success.
        emit = self.log.info if report.result == "passed" else self.log.error
        emit(
            "run finished",
            pipeline=report.pipeline,
            result=report.result,
            duration_s=round(report.ended - report.started, 3),
            critical_path=report.critical_path,
            failed=[r.name for r in report.failed],
            warnings=report.warnings,
            report=str(report.path) if report.path else None,
        )


def _run_error(report: RunReport) -> str:
    failed = [r.name for r in report.failed]
    if report.result == "interrupted":
        return "the run was interrupted before it finished"
    return escape_data(redact(f"stages failed: {', '.join(failed)}" if failed else f"the run {report.result}"))


class GitHubReporter:
    """Workflow commands on ``stream`` (stdout) and a Markdown summary appended to ``summary_path``.

    Stages run in parallel, so each stage's output is printed as one ``::group::`` when it finishes rather
    than interleaved as it arrives.
    """

    def __init__(self, stream: TextIO | None = None, summary_path: Path | None = None) -> None:
        self.stream = stream or sys.stdout
        self.summary_path = summary_path
        self._lines: dict[str, list[str]] = {}

    def _write(self, text: str) -> None:
        self.stream.write(redact(text) + "\n")
        self.stream.flush()

    def run_started(self, name: str, graph: Graph) -> None:
        pass

    def stage_started(self, result: StageResult) -> None:
        self._lines[result.name] = []

    def stage_output(self, stage: str, line: str) -> None:
        self._lines.setdefault(stage, []).append(line)

    def stage_finished(self, result: StageResult) -> None:
        if result.state in (StageState.PENDING, StageState.SKIPPED) and not self._lines.get(result.name):
            return
        label = f"{result.name}: {result.state.value}" + (" (cache hit)" if result.cache == "hit" else "")
        if result.state is StageState.CACHED and result.origin:
            label = f"{result.name}: cached (from run {result.origin})"
        self._write(f"::group::{label}")
        body = self._lines.pop(result.name, None) or result.output.splitlines()
        # Tool output must not issue workflow commands: neutralised, and fenced off with a random token.
        for line in untrusted(redact(line) for line in body):
            self._write(line)
        self._write("::endgroup::")
        if result.state is StageState.FAILED:
            title = escape_property(f"stage {result.name} failed")
            self._write(f"::error title={title}::{escape_data(redact(result.error or 'failed'))}")

    def run_finished(self, report: RunReport) -> None:
        for warning in report.warnings:
            title = escape_property(f"pipeline {report.pipeline}")
            self._write(f"::warning title={title}::{escape_data(redact(warning))}")
        if report.result != "passed":
            title = escape_property(f"pipeline {report.pipeline} {report.result}")
            self._write(f"::error title={title}::{_run_error(report)}")
        if self.summary_path is None:
            return
        from shipyard.pipeline._report import markdown_summary

        text = markdown_summary(report) + "\n"
        if report.path is not None:  # the HTML report of the runs, linked as the job's artifact
            from shipyard._report import ci_report

            text += "\n" + redact(ci_report(report.path.parent, os.environ)) + "\n"
        with self.summary_path.open("a", encoding="utf-8") as summary:
            summary.write(text)


def default_reporters(*, stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> list[Reporter]:
    """The reporters for this process: live view on a terminal, log lines otherwise, GitHub extras in Actions."""
    from shipyard._logging import output_mode

    environ = os.environ if environ is None else environ
    out = stream or sys.stderr
    reporters: list[Reporter] = []
    if output_mode(out, environ=environ) == "live":
        from shipyard.pipeline._live import LiveReporter

        reporters.append(LiveReporter(out))
    else:
        reporters.append(LogReporter())
    if environ.get("GITHUB_ACTIONS") == "true":
        summary = environ.get("GITHUB_STEP_SUMMARY")
        reporters.append(GitHubReporter(summary_path=Path(summary) if summary else None))
    return reporters
