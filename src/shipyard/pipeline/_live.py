"""The terminal view: a rich live table (stage, state, elapsed, cache, progress), then any failing output in full.

While the table is live, every log line is printed through its console (``shipyard._output.attached``), so rich
draws it above the table instead of breaking the live region; each stage's log events and progress updates
(build step n/m, pushed layers and bytes, deploy phases) become that stage's progress column.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from shipyard import _output
from shipyard._secrets import redact
from shipyard.pipeline._model import StageResult, StageState

if TYPE_CHECKING:
    from shipyard.pipeline._graph import Graph
    from shipyard.pipeline._report import RunReport

__all__ = ["LiveReporter"]

#: The runner's own events: the table shows them already.
_OWN_EVENTS = {"stage started", "stage finished", "stage failed", "output"}

_STYLE = {
    StageState.PENDING: "dim",
    StageState.RUNNING: "cyan",
    StageState.PASSED: "green",
    StageState.CACHED: "green",
    StageState.FAILED: "bold red",
    StageState.CANCELLED: "yellow",
    StageState.SKIPPED: "dim",
}


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LiveReporter:
    """Redraws a table while the run goes on; prints the failing stages' output once it is over."""

    def __init__(self, stream: TextIO, *, force_terminal: bool | None = None, width: int | None = None) -> None:
        from shipyard.pipeline._live_console import LockedConsole

        self.console = LockedConsole(file=stream, force_terminal=force_terminal, width=width, highlight=False)
        self._results: dict[str, StageResult] = {}
        self._last_line: dict[str, str] = {}
        self._live: Any = None
        self._name = ""
        self._hooks = contextlib.ExitStack()

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(redact(f"pipeline {self._name}")), title_justify="left", expand=False)
        # Fixed columns keep their width; only the progress column is cut (with an ellipsis) to fit the terminal.
        widths = {"stage": max([5, *(len(name) for name in self._results)]), "state": 9, "elapsed": 7, "cache": 6}
        widths["stage"] = min(widths["stage"], 30)
        # Each column is padded by one space a side, and five columns have six borders.
        widths["progress"] = max(10, self.console.width - sum(w + 2 for w in widths.values()) - 6 - 2)
        for column, width in widths.items():
            table.add_column(column, no_wrap=True, overflow="ellipsis", min_width=min(width, 10), max_width=width)
        now = time.time()
        for name, r in self._results.items():
            elapsed = "" if r.start is None else f"{(r.end or now) - r.start:5.1f}s"
            cache = {"hit": "hit", "miss": "miss", "forced": "forced", "off": ""}.get(r.cache, r.cache)
            table.add_row(
                Text(redact(name)),
                Text(r.state.value, style=_STYLE[r.state]),
                elapsed,
                cache,
                Text(redact(self._last_line.get(name, "")) if r.state is StageState.RUNNING else redact(r.summary)),
            )
        return table

    def run_started(self, name: str, graph: Graph) -> None:
        from shipyard.pipeline._live_console import LockedLive

        self._name = name
        self._results = {stage: StageResult(stage) for stage in graph.order}
        self._live = LockedLive(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=8,
            transient=False,
            # stdout is drawn above the table only when it is a terminal too; piped away, its data stays its own.
            redirect_stdout=_is_terminal(sys.stdout),
        )
        # Drawn once before anything else can print, so every later line knows where the table is.
        self._live.start(refresh=True)
        # A run that dies before it finishes (its report cannot be written, a second Ctrl-C) still stops the
        # table at exit: the cursor shown again, the table whole, the shell's prompt on a line of its own.
        atexit.register(self._stop)
        self._hooks.enter_context(_output.attached(self.console))
        self._hooks.enter_context(_output.listening(self._event))

    def _event(self, event: Mapping[str, Any]) -> None:
        stage = event.get("stage")
        if isinstance(stage, str) and stage in self._results and event.get("event") not in _OWN_EVENTS:
            self._last_line[stage] = (_output.clean(_output.describe(event)).splitlines() or [""])[0][:200]

    def stage_started(self, result: StageResult) -> None:
        self._results[result.name] = result

    def stage_output(self, stage: str, line: str) -> None:
        self._last_line[stage] = (_output.clean(line).splitlines() or [""])[0][:200]

    def stage_finished(self, result: StageResult) -> None:
        self._results[result.name] = result

    def _stop(self) -> None:
        atexit.unregister(self._stop)
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._hooks.close()

    def run_finished(self, report: RunReport) -> None:
        for r in report.stages:
            self._results[r.name] = r
        self._stop()
        from rich.rule import Rule
        from rich.text import Text

        for r in report.failed:
            self.console.print(Rule(Text(_output.clean(redact(f"{r.name} failed: {r.error}")), style="bold red")))
            self.console.print(Text(_output.clean(redact(r.output.rstrip()))), soft_wrap=True)
        if report.critical_path:
            self.console.print(Text(redact(f"critical path: {' -> '.join(report.critical_path)}"), style="dim"))
