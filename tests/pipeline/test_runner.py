"""Execution: parallelism from recorded times, ordering, fail-fast cancellation, keep-going, timeouts."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from shipyard.pipeline import (
    FileArtifact,
    Pipeline,
    RunOptions,
    StageContext,
    StageFailed,
    StageState,
)
from shipyard.testing import RecordingReporter


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; /proc says so.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def test_independent_stages_overlap_and_dependents_wait(options: RunOptions) -> None:
    p = Pipeline("p")

    @p.stage(produces="a")
    async def slow_a(ctx: StageContext) -> dict[str, object]:
        await ctx.run([sys.executable, "-c", "import time; time.sleep(1)"])
        return {"a": 1}

    @p.stage(produces="b")
    async def slow_b(ctx: StageContext) -> dict[str, object]:
        await asyncio.sleep(1)
        return {"b": 2}

    @p.stage(consumes=["a", "b"])
    async def join(ctx: StageContext) -> None:
        ctx.summary = f"sum {ctx.input('a') + ctx.input('b')}"

    report = await p.run_async(options)
    a, b, j = report.stage("slow_a"), report.stage("slow_b"), report.stage("join")
    assert a.start is not None
    assert b.start is not None
    assert a.end is not None
    assert b.end is not None
    assert j.start is not None
    # They overlap: each started before the other ended.
    assert a.start < b.end
    assert b.start < a.end
    assert j.start >= max(a.end, b.end)
    assert j.summary == "sum 3"
    assert report.ok
    assert set(report.critical_path) >= {"join"}


async def test_cpu_bound_serialises_heavy_stages(options: RunOptions, recorder: RecordingReporter) -> None:
    options.cpu_limit = 1
    p = Pipeline("p")
    for name in ("h1", "h2"):
        p.stage(name, cpu=True)(lambda ctx: asyncio.sleep(0.2))
    p.stage("light")(lambda ctx: asyncio.sleep(0.2))
    report = await p.run_async(options)
    h1, h2, light = report.stage("h1"), report.stage("h2"), report.stage("light")
    first, second = sorted((h1, h2), key=lambda r: r.start or 0)
    assert second.start is not None
    assert first.end is not None
    assert second.start >= first.end  # never two CPU-heavy stages at once
    assert light.start is not None
    assert light.start < first.end


async def test_fail_fast_kills_running_subprocess_and_shows_output(options: RunOptions, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    p = Pipeline("p")

    @p.stage()
    async def long(ctx: StageContext) -> None:
        code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        await ctx.run([sys.executable, "-c", code])

    @p.stage()
    async def failing(ctx: StageContext) -> None:
        while not pidfile.exists():  # noqa: ASYNC110 - waiting on another process, not on this loop
            await asyncio.sleep(0.02)
        await ctx.run([sys.executable, "-c", "print('line one'); print('the assertion failed'); raise SystemExit(3)"])

    @p.stage(after="failing")
    async def later(ctx: StageContext) -> None:
        raise AssertionError("must not run")

    started = time.monotonic()
    with pytest.raises(StageFailed, match=r"stage 'failing' failed: .* exited with 3: the assertion failed") as info:
        await p.run_async(options)
    assert time.monotonic() - started < 30
    report = info.value.report
    assert report.result == "failed"
    assert report.stage("failing").state is StageState.FAILED
    assert report.stage("failing").output.splitlines() == ["line one", "the assertion failed"]
    assert report.stage("long").state is StageState.CANCELLED
    assert report.stage("later").state in (StageState.CANCELLED, StageState.SKIPPED)
    assert not _alive(int(pidfile.read_text()))
    saved = json.loads(report.path.read_text()) if report.path else {}
    assert saved["result"] == "failed"
    assert [s["state"] for s in saved["stages"]][:2] == ["cancelled", "failed"]


async def test_keep_going_runs_everything_not_downstream_of_a_failure(options: RunOptions) -> None:
    options.keep_going = True
    p = Pipeline("p")

    @p.stage(produces="x")
    async def broken(ctx: StageContext) -> dict[str, object]:
        raise RuntimeError("boom")

    @p.stage(consumes="x")
    async def needs_broken(ctx: StageContext) -> None:
        raise AssertionError("must not run")

    @p.stage()
    async def independent(ctx: StageContext) -> None:
        await asyncio.sleep(0.1)

    report = await p.run_async(options, check=False)
    assert report.result == "failed"
    assert report.stage("broken").error == "RuntimeError: boom"
    assert report.stage("needs_broken").state is StageState.SKIPPED
    assert report.stage("independent").state is StageState.PASSED


async def test_stage_timeout_cancels_it_and_its_child(options: RunOptions, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    p = Pipeline("p")

    @p.stage(timeout=0.5)
    async def hangs(ctx: StageContext) -> None:
        code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        await ctx.run([sys.executable, "-c", code])

    with pytest.raises(StageFailed, match=r"stage 'hangs' timed out after 0.5 s"):
        await p.run_async(options)
    assert not _alive(int(pidfile.read_text()))


async def test_outputs_must_match_declaration(options: RunOptions) -> None:
    p = Pipeline("p")
    p.stage("a", produces="x")(lambda ctx: asyncio.sleep(0, result={"y": 1}))
    with pytest.raises(StageFailed, match=r"missing \['x'\], undeclared \['y'\]"):
        await p.run_async(options)
    q = Pipeline("q")
    q.stage("b", produces="f")(lambda ctx: asyncio.sleep(0, result={"f": FileArtifact("nope.whl")}))
    with pytest.raises(StageFailed, match=r"returned file 'nope\.whl', which does not exist"):
        await q.run_async(options)


async def test_cleanup_hooks_run_when_the_run_fails(options: RunOptions) -> None:
    removed: list[str] = []
    p = Pipeline("p")

    @p.stage()
    async def creates(ctx: StageContext) -> None:
        ctx.on_cleanup(lambda: removed.append("container-1"))
        undo = ctx.on_cleanup(lambda: removed.append("already-removed"))
        undo()
        raise RuntimeError("push failed")

    with pytest.raises(StageFailed):
        await p.run_async(options)
    assert removed == ["container-1"]
    assert len(options.cleanup) == 0


async def test_context_sees_only_declared_env(options: RunOptions) -> None:
    options.environ = {"DECLARED": "yes", "OTHER": "no"}
    seen: dict[str, str] = {}
    p = Pipeline("p")

    @p.stage(env="DECLARED")
    async def reads(ctx: StageContext) -> None:
        seen.update(ctx.env)

    await p.run_async(options)
    assert seen == {"DECLARED": "yes"}
