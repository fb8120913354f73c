"""Output channels: JSON report, GitHub workflow commands and step summary, JSON logs, the live view."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from shipyard import _logging
from shipyard.pipeline import (
    GitHubReporter,
    LogReporter,
    Pipeline,
    RunOptions,
    StageContext,
    StageFailed,
    default_reporters,
)
from shipyard.pipeline._live import LiveReporter


def _pipeline() -> Pipeline:
    p = Pipeline("ci")

    @p.stage(produces="wheel")
    async def build(ctx: StageContext) -> dict[str, object]:
        ctx.print("::set-output name=x::injected")
        ctx.print("built")
        await asyncio.sleep(0.05)
        return {"wheel": "app.whl"}

    @p.stage(consumes="wheel")
    async def test(ctx: StageContext) -> None:
        ctx.print("E   assert 1 == 2")
        raise RuntimeError("1 test failed")

    return p


async def test_json_report_has_stages_times_cache_result_and_critical_path(options: RunOptions) -> None:
    with pytest.raises(StageFailed):
        await _pipeline().run_async(options)
    runs = options.root / ".shipyard" / "runs"
    latest = json.loads((runs / "latest.json").read_text())
    assert latest["pipeline"] == "ci"
    assert latest["result"] == "failed"
    assert latest["critical_path"] == ["build", "test"]
    build, test = latest["stages"]
    assert (build["name"], build["state"], build["cache"]) == ("build", "passed", "off")
    assert build["outputs"] == {"wheel": "app.whl"}
    assert build["started"] < build["ended"] <= test["started"]
    assert test["error"] == "RuntimeError: 1 test failed"
    assert len(list(runs.glob("*-ci-*.json"))) == 1


async def test_github_groups_errors_and_step_summary_with_gantt(options: RunOptions, tmp_path: Path) -> None:
    out, summary = io.StringIO(), tmp_path / "summary.md"
    summary.write_text("previous step\n")
    options.reporters = [GitHubReporter(stream=out, summary_path=summary)]
    with pytest.raises(StageFailed):
        await _pipeline().run_async(options)
    lines = out.getvalue().splitlines()
    token = lines[1].removeprefix("::stop-commands::")
    assert len(token) == 32
    assert lines[:7] == [
        "::group::build: passed",
        f"::stop-commands::{token}",
        ":\u200b:set-output name=x::injected",  # neutralised: the runner would not parse it
        "built",
        f"::{token}::",
        "::endgroup::",
        "::group::test: failed",
    ]
    assert "::error title=stage test failed::RuntimeError: 1 test failed" in lines
    text = summary.read_text()
    assert text.startswith("previous step\n### Pipeline `ci`: failed")  # appended, never overwritten
    assert "| test | ❌ failed | off |" in text
    assert "```mermaid\ngantt\n    dateFormat x" in text
    assert "    build : active, build, " in text
    assert "    test : crit, test, " in text
    assert "E   assert 1 == 2" in text  # the failing output, in a <details> block


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    _logging.configure(json=True, stream=stream)
    yield stream
    structlog.reset_defaults()


async def test_logs_are_json_lines_with_the_failing_output(options: RunOptions, log_stream: io.StringIO) -> None:
    options.reporters = [LogReporter()]
    with pytest.raises(StageFailed):
        await _pipeline().run_async(options)
    events = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    by_event = {e["event"]: e for e in events}
    assert by_event["stage failed"]["stage"] == "test"
    assert by_event["stage failed"]["output"] == "E   assert 1 == 2"
    assert by_event["run finished"]["result"] == "failed"


async def test_live_view_shows_states_and_failing_output_at_the_end(options: RunOptions) -> None:
    out = io.StringIO()
    options.reporters = [LiveReporter(out, force_terminal=True, width=120)]
    with pytest.raises(StageFailed):
        await _pipeline().run_async(options)
    text = out.getvalue()
    assert "build" in text
    assert "passed" in text
    assert "test failed: RuntimeError: 1 test failed" in text
    assert text.rstrip().splitlines()[-2].strip().endswith("E   assert 1 == 2")


def test_default_reporters_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    chosen = default_reporters(stream=io.StringIO(), environ={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "s.md"})
    assert [type(r).__name__ for r in chosen] == ["LogReporter", "GitHubReporter"]
    assert [type(r).__name__ for r in default_reporters(stream=io.StringIO(), environ={})] == ["LogReporter"]


def test_old_run_reports_are_pruned(tmp_path: Path) -> None:
    from shipyard.pipeline import _report

    for i in range(5):
        (tmp_path / f"20260101T00000{i}.000000-check-1.json").write_text("{}")
    _report._prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "20260101T000003.000000-check-1.json",
        "20260101T000004.000000-check-1.json",
    ]
