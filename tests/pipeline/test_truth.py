"""Results are true everywhere: a stage whose work failed (even reported as data) fails on every channel."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from shipyard.pipeline import GitHubReporter, Pipeline, RunOptions, StageContext
from shipyard.pipeline._live import LiveReporter

# A deploy stage the way a deploy returns its result: as data ("rolled back"), not as an exception.
SCRIPT = textwrap.dedent(
    """
    import sys
    from shipyard import _logging
    from shipyard.pipeline import Pipeline, run_pipeline

    _logging.configure(json=True)
    pipeline = Pipeline("deploy-staging")

    @pipeline.stage(produces="reference")
    async def push(ctx):
        ctx.summary = "pushed"
        return {"reference": "127.0.0.1:1/app@sha256:" + "0" * 64}

    @pipeline.stage(name="deploy", consumes="reference", produces="result")
    async def deploy(ctx):
        ctx.summary = "rolled back: health check failed"
        ctx.fail("deploy to 'staging' rolled back: health check failed")
        return {"result": "rolled back"}

    @pipeline.stage(consumes="result")
    async def verify(ctx):
        pass

    try:
        run_pipeline(pipeline, root=sys.argv[1])
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(getattr(exc, "exit_code", 1))
    """
)


def test_failure_as_data_fails_report_log_summary_annotation_and_exit_code(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "CI": "true"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / ".shipyard" / "runs" / "latest.json").read_text())
    assert report["result"] == "failed"
    states = {s["name"]: s["state"] for s in report["stages"]}
    assert states == {"push": "passed", "deploy": "failed", "verify": "skipped"}
    assert report["stages"][1]["error"] == "deploy to 'staging' rolled back: health check failed"
    assert report["stages"][1]["outputs"] == {"result": "rolled back"}  # kept for the record
    text = summary.read_text()
    assert "### Pipeline `deploy-staging`: failed" in text
    assert "| deploy | ❌ failed |" in text
    assert "✅ passed | off" in text.split("| deploy |")[0]  # only push passed
    assert "::error title=stage deploy failed::deploy to 'staging' rolled back: health check failed" in proc.stdout
    assert "::error title=pipeline deploy-staging failed::stages failed: deploy" in proc.stdout
    events = [json.loads(line) for line in proc.stdout.splitlines() + proc.stderr.splitlines() if line.startswith("{")]
    finished = [e for e in events if e.get("event") == "run finished"]
    assert finished
    assert finished[0]["result"] == "failed"
    assert finished[0]["level"] == "error"
    assert finished[0]["failed"] == ["deploy"]
    assert "error: stage 'deploy' failed: deploy to 'staging' rolled back" in proc.stderr


async def test_live_view_says_failed_for_failure_as_data(tmp_path: Path) -> None:
    p = Pipeline("p")

    @p.stage()
    async def deploy(ctx: StageContext) -> None:
        ctx.fail("rolled back")

    out = io.StringIO()
    report = await p.run_async(
        RunOptions(root=tmp_path, reporters=[LiveReporter(out, force_terminal=True, width=100)], environ={}),
        check=False,
    )
    assert report.result == "failed"
    assert "deploy failed: rolled back" in out.getvalue()


async def test_interrupted_run_is_reported_interrupted_on_github(tmp_path: Path) -> None:
    import asyncio

    p = Pipeline("p")

    @p.stage()
    async def slow(ctx: StageContext) -> None:
        await asyncio.sleep(30)

    out = io.StringIO()
    summary = tmp_path / "summary.md"
    task = asyncio.ensure_future(
        p.run_async(RunOptions(root=tmp_path, reporters=[GitHubReporter(out, summary)], environ={}))
    )
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    report = json.loads((tmp_path / ".shipyard" / "runs" / "latest.json").read_text())
    assert report["result"] == "interrupted"
    assert report["stages"][0]["state"] == "cancelled"
    assert "::error title=pipeline p interrupted::the run was interrupted" in out.getvalue()
    assert "### Pipeline `p`: interrupted" in summary.read_text()
