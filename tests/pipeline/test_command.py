"""The async side of ``shipyard._command``: whole lines to the sink, redacted errors, group termination."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from shipyard import CommandFailed, register_secret
from shipyard._command import run_async


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def test_sink_receives_whole_lines_even_when_written_in_pieces() -> None:
    lines: list[str] = []
    code = (
        "import sys, time\n"
        "sys.stdout.write('first half, '); sys.stdout.flush(); time.sleep(0.2)\n"
        "sys.stdout.write('second half\\nlast line without newline'); sys.stdout.flush()\n"
    )
    result = await run_async([sys.executable, "-c", code], on_output=lines.append)
    assert lines == ["first half, second half", "last line without newline"]
    assert result.output == "first half, second half\nlast line without newline"


async def test_secret_in_argv_does_not_reach_the_exception_message() -> None:
    register_secret("argv-token-98765")
    with pytest.raises(CommandFailed) as info:
        await run_async([sys.executable, "-c", "raise SystemExit(2)", "--token=argv-token-98765"])
    assert "argv-token-98765" not in str(info.value)
    assert "--token=***" in str(info.value)


async def test_cancellation_terminates_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{c.pid}}')\n"
        "time.sleep(60)\n"
    )
    task = asyncio.create_task(run_async([sys.executable, "-c", code]))
    while not (pids.exists() and pids.read_text()):  # noqa: ASYNC110 - waiting on another process
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [pid for pid in map(int, pids.read_text().split()) if _alive(pid)] == []
