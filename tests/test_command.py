"""Every subprocess goes through shipyard._command: output captured and redacted, failures raised."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from shipyard import CommandFailed, register_secret
from shipyard._command import run, run_async


def test_run_captures_interleaved_output() -> None:
    result = run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert result.returncode == 0
    assert "out" in result.output
    assert "err" in result.output


def test_a_failure_raises_with_the_last_line() -> None:
    with pytest.raises(CommandFailed) as info:
        run([sys.executable, "-c", "import sys; print('first'); print('boom: it broke'); sys.exit(3)"])
    assert info.value.returncode == 3
    assert str(info.value).endswith("exited with 3: boom: it broke")


def test_a_missing_program_is_one_clear_line() -> None:
    with pytest.raises(CommandFailed, match="no-such-tool-xyz: command not found"):
        run(["no-such-tool-xyz"])


def test_output_is_redacted() -> None:
    register_secret("s3cr3t-value")
    result = run([sys.executable, "-c", "print('token=s3cr3t-value')"])
    assert "s3cr3t-value" not in result.output
    assert "token=***" in result.output


async def test_run_async_streams_lines_and_redacts() -> None:
    register_secret("another-s3cret")
    lines: list[str] = []
    code = "import sys,time; print('a'); sys.stdout.flush(); time.sleep(0.05); print('b another-s3cret')"
    result = await run_async([sys.executable, "-c", code], on_output=lines.append)
    assert lines == ["a", "b ***"]
    assert "another-s3cret" not in result.output


async def test_cancelling_run_async_terminates_the_child() -> None:
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    pids: list[int] = []
    started = asyncio.Event()

    def seen(line: str) -> None:
        pids.append(int(line))
        started.set()

    task = asyncio.create_task(run_async([sys.executable, "-c", code], on_output=seen))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
