"""SIGINT/SIGTERM on a real program using the engine: children terminated, cleanup run, exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PROGRAM = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from shipyard._cli import Exit, handle_errors
    from shipyard.pipeline import Pipeline, LogReporter, RunOptions, add_cleanup

    root = Path(sys.argv[1])
    tree = (
        "import os, subprocess, sys, time\\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}')\\n"
        "time.sleep(120)\\n"
    )
    p = Pipeline("sig")

    @p.stage()
    async def spawns(ctx):
        add_cleanup(lambda: (root / "cleaned").write_text("container removed"), name="temp-container")
        await ctx.run([sys.executable, "-c", tree, str(root / "pids")])

    @p.stage()
    async def other(ctx):
        await ctx.run([sys.executable, "-c", "import time; time.sleep(120)"])

    try:
        with handle_errors("prog"):
            p.run(RunOptions(root=root, reporters=[LogReporter()]))
    except Exit as exc:
        sys.exit(exc.code)
    """
)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_cancels_run_kills_tree_runs_cleanup_exits_130(tmp_path: Path, signum: int) -> None:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    try:
        deadline = time.monotonic() + 20
        pids_file = tmp_path / "pids"
        while not (pids_file.exists() and pids_file.read_text().strip()):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the stage never started its process tree"
            time.sleep(0.05)
        pids = [int(p) for p in pids_file.read_text().split()]
        assert all(_alive(pid) for pid in pids)
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    assert f"prog: error: pipeline 'sig' interrupted by {signal.Signals(signum).name}" in out, out
    time.sleep(0.1)
    assert [pid for pid in pids if _alive(pid)] == [], out  # no orphans: child and grandchild are gone
    assert (tmp_path / "cleaned").read_text() == "container removed", out
    report = json.loads((tmp_path / ".shipyard" / "runs" / "latest.json").read_text())
    assert report["result"] == "interrupted"
    assert {s["state"] for s in report["stages"]} == {"cancelled"}
