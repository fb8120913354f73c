"""Every subprocess Shipyard starts goes through this module (the one seam tests and redaction rely on).

``run`` is the synchronous form; ``run_async`` is the asyncio form used by pipeline stages. Both start the child
in a new process group so that cancellation can terminate the whole tree, never just the direct child.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard._errors import CommandFailed
from shipyard._secrets import redact

__all__ = ["OutputSink", "Result", "run", "run_async", "terminate_group"]

#: Receives one line of a running command's output, already redacted.
OutputSink = Callable[[str], None]

#: How long a terminated process group gets to exit before it is killed.
GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Result:
    """What a finished command returned. ``output`` is stdout and stderr interleaved, redacted."""

    argv: tuple[str, ...]
    returncode: int
    output: str


def _env(env: Mapping[str, str] | None, *, inherit: bool) -> dict[str, str] | None:
    if env is None:
        return None
    return {**os.environ, **env} if inherit else dict(env)


def run(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
    check: bool = True,
    timeout: float | None = None,
) -> Result:
    """Run ``argv`` to completion, capturing its output; raise ``CommandFailed`` on a non-zero exit."""
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=_env(env, inherit=inherit_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandFailed(argv, 127, f"{argv[0]}: command not found; install it or put it on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else ""
        raise CommandFailed(argv, -1, redact(out) + f"\ntimed out after {timeout} s") from exc
    result = Result(tuple(argv), proc.returncode, redact(proc.stdout or ""))
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, result.output)
    return result


def terminate_group(pid: int) -> None:
    """Send SIGTERM to the process group led by ``pid`` (started with ``start_new_session``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_async(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
    check: bool = True,
    on_output: OutputSink | None = None,
) -> Result:
    """Run ``argv`` without blocking the loop; on cancellation terminate (then kill) its whole process group.

    ``on_output`` receives redacted output lines as they arrive (for live views and structured logs).
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=_env(env, inherit=inherit_env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise CommandFailed(argv, 127, f"{argv[0]}: command not found; install it or put it on PATH") from exc
    from shipyard._secrets import StreamRedactor

    stream = StreamRedactor()
    chunks: list[str] = []

    def emit(text: str) -> None:
        chunks.append(text)
        if on_output is not None:
            for line in text.splitlines():
                on_output(line)

    assert proc.stdout is not None
    try:
        while data := await proc.stdout.read(65536):
            emit(stream.feed(data.decode("utf-8", errors="replace")))
        emit(stream.flush())
        returncode = await proc.wait()
    except BaseException:
        terminate_group(proc.pid)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), GRACE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            _kill_group(proc.pid)
        _kill_group(proc.pid)  # stragglers in the group that ignored SIGTERM
        raise
    result = Result(tuple(argv), returncode, "".join(chunks))
    if check and returncode != 0:
        raise CommandFailed(argv, returncode, result.output)
    return result
