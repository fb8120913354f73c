"""The output layer's choices and its lines: which format where, plain sentences, secrets never shown."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from shipyard import _logging, _output
from shipyard._errors import ConfigError
from shipyard._secrets import register_secret
from shipyard.pipeline import Pipeline, RunOptions, StageContext
from shipyard.pipeline._live import LiveReporter

SECRET = "hunter2-but-longer"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SHIPYARD_LOG_FORMAT", raising=False)
    yield
    _logging._requested.clear()
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("stream", "environ", "fmt", "mode"),
    [
        (Tty(), {"TERM": "xterm"}, None, "live"),
        (Tty(), {"TERM": "dumb"}, None, "plain"),
        (io.StringIO(), {}, None, "plain"),
        (io.StringIO(), {"SHIPYARD_LOG_FORMAT": "json"}, None, "json"),
        (Tty(), {"SHIPYARD_LOG_FORMAT": "json"}, None, "json"),
        (Tty(), {"SHIPYARD_LOG_FORMAT": "json"}, "plain", "plain"),  # the option wins over the variable
        (Tty(), {}, "plain", "plain"),
    ],
)
def test_output_mode(stream: io.StringIO, environ: dict[str, str], fmt: str | None, mode: str) -> None:
    assert _logging.output_mode(stream, environ=environ, fmt=fmt) == mode


def test_ci_means_json_unless_asked_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert _logging.output_mode(Tty(), environ={"TERM": "xterm"}) == "json"
    assert _logging.output_mode(Tty(), environ={}, fmt="plain") == "plain"


def test_colour_only_on_a_terminal_without_no_color() -> None:
    assert _logging.use_color(Tty(), environ={"TERM": "xterm"})
    assert not _logging.use_color(Tty(), environ={"TERM": "xterm", "NO_COLOR": "1"})
    assert not _logging.use_color(Tty(), environ={"TERM": "dumb"})
    assert not _logging.use_color(io.StringIO(), environ={})


def test_a_bad_format_names_where_it_came_from() -> None:
    with pytest.raises(ConfigError, match=r"^SHIPYARD_LOG_FORMAT: unknown log format 'xml'"):
        _logging.output_mode(io.StringIO(), environ={"SHIPYARD_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match=r"^--log-format: unknown log format 'yaml'"):
        _logging.set_format("yaml")


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            {"event": "deploy.phase", "env": "local", "phase": "switched", "previous": "app-1"},
            "switched traffic (previous: app-1)",
        ),
        (
            {"event": "deploy.phase", "env": "local", "phase": "switched", "previous": ""},
            "switched traffic (previous: none)",
        ),
        ({"event": "deploy.phase", "env": "local", "phase": "rolled-back", "reason": "503"}, "rolled back: 503"),
        ({"event": "deploy.phase", "phase": "a-new-phase"}, "a-new-phase"),
        (
            {"event": "deploy.phase", "env": "e", "deploy_id": "d", "phase": "healthy", "checks": 3, "level": "info"},
            "healthy checks=3",
        ),
        (
            {
                "event": "image.push.progress",
                "layers_done": 2,
                "layers": 5,
                "bytes_done": 1_500_000,
                "bytes_total": 9_000_000,
            },
            "pushing 2/5 layers, 1.5/9.0 MB",
        ),
        (
            {
                "event": "stage finished",
                "stage": "lint",
                "state": "cached",
                "duration_s": 0.01,
                "cache": "hit",
                "summary": "ok",
            },
            "cached in 0.0 s (cache hit)  ok",
        ),
        ({"event": "something.new", "env": "x", "count": 3}, "something.new count=3"),
        ({"event": "deploy.end", "duration": "not a number"}, "deploy.end duration=not a number"),
    ],
)
def test_describe(event: dict[str, object], line: str) -> None:
    assert _output.describe(event) == line


def _log_everything() -> None:
    log = _logging.get_logger("shipyard.deploy")
    log.info("deploy.start", env="local", image=f"registry/app:{SECRET}", deploy_id="d1")
    log.warning("odd.event", env="local", detail={"nested": [f"token={SECRET}"]})
    log.error("deploy.phase", env="local", phase="rolled-back", reason=f"bad {SECRET}")


def test_plain_lines_are_readable_and_redacted() -> None:
    register_secret(SECRET)
    out = io.StringIO()
    _logging.configure(stream=out, fmt="plain")
    _log_everything()
    lines = out.getvalue().splitlines()
    assert SECRET not in out.getvalue()
    assert lines[0].endswith("deploy   local    deploying registry/app:*** (d1)")
    assert "warning: odd.event detail={'nested': ['token=***']}" in lines[1]
    assert lines[2].endswith("error: rolled back: bad ***")
    assert "\x1b[" not in out.getvalue()


def test_json_lines_are_redacted() -> None:
    register_secret(SECRET)
    out = io.StringIO()
    _logging.configure(stream=out, fmt="json")
    _log_everything()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert SECRET not in out.getvalue()
    assert events[1]["detail"] == {"nested": ["token=***"]}


async def test_log_lines_during_a_live_run_go_through_its_console_redacted(tmp_path: Path) -> None:
    register_secret(SECRET)
    logs, screen = io.StringIO(), io.StringIO()
    _logging.configure(stream=logs, fmt="plain")
    pipeline = Pipeline("demo")

    @pipeline.stage()
    async def push(ctx: StageContext) -> None:
        _logging.get_logger("images").info("image.push.done", reference=f"r@{SECRET}")
        _output.progress("image.push.progress", image=SECRET, layers_done=1, layers=2)

    live = LiveReporter(screen, force_terminal=True, width=120)
    await pipeline.run_async(RunOptions(root=tmp_path, reporters=[live], environ={}))
    assert logs.getvalue() == ""  # nothing bypassed the live console
    text = screen.getvalue()
    assert "pushed r@***" in text
    assert SECRET not in text


TOOL_OUTPUT = "\x1b[1;31mERROR\x1b[0m compiling\x1b[2K\x1b]0;title\x07 \x1b[3Adone\x08!"


async def test_a_tools_escape_codes_never_reach_a_file_or_the_table(tmp_path: Path) -> None:
    # A failing tool that colours its output, moves the cursor and sets the window title: in a log file the
    # failure reads as plain text; on the terminal, neither the table nor the failure's tail is moved about.
    pipeline = Pipeline("escapes")

    @pipeline.stage()
    async def build(ctx: StageContext) -> None:
        ctx.print(TOOL_OUTPUT)
        _logging.get_logger("images").info("tool.said", text=TOOL_OUTPUT)
        raise RuntimeError(f"exit 1: {TOOL_OUTPUT}")

    out = io.StringIO()
    _logging.configure(stream=out, fmt="plain")
    await pipeline.run_async(RunOptions(root=tmp_path, environ={}), check=False)
    text = out.getvalue()
    assert not any(c in text for c in "\x1b\x07\x08"), repr(text)
    assert "error: failed in" in text
    assert "RuntimeError: exit 1: ERROR compiling done!" in text
    assert "    ERROR compiling done!" in text.splitlines()  # the output tail, readable

    _logging.configure(stream=io.StringIO(), fmt="plain")
    screen = io.StringIO()
    live = LiveReporter(screen, force_terminal=True, width=100)
    await pipeline.run_async(RunOptions(root=tmp_path, reporters=[live], environ={}), check=False)
    drawn = screen.getvalue()
    assert not any(code in drawn for code in ("\x1b]0;", "\x1b[3A", "\x1b[2Kdone")), repr(drawn)
    assert "ERROR compiling done!" in drawn


async def test_square_brackets_in_names_are_text_not_rich_markup(tmp_path: Path) -> None:
    _logging.configure(stream=io.StringIO(), fmt="plain")
    pipeline = Pipeline("app[red]v[bold]2")

    @pipeline.stage(name="s[/]x")
    async def stage(ctx: StageContext) -> None:
        ctx.print("[/] [bold]out")
        raise RuntimeError("[/]boom")

    screen = io.StringIO()
    live = LiveReporter(screen, force_terminal=True, width=100)
    await pipeline.run_async(RunOptions(root=tmp_path, reporters=[live], environ={}), check=False)
    text = screen.getvalue()
    assert "pipeline app[red]v[bold]2" in text
    assert "s[/]x failed: RuntimeError: [/]boom" in text
