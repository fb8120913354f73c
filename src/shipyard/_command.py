"""Every subprocess Shipyard starts goes through this module (the one seam tests and redaction rely on).

``run`` is the synchronous form; ``run_async`` is the asyncio form used by pipeline stages. Both start the child
in a new process group so that cancellation can terminate the whole tree, never just the direct child.
"""

from __future__ import annotations

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


def _redacted(argv: Sequence[str]) -> list[str]:
    # An argv may carry a secret (``--password``, a token in a URL): exception messages must not.
    return [redact(arg) for arg in argv]


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
        raise CommandFailed(
            _redacted(argv), 127, f"{argv[0]}: command not found; install it or put it on PATH"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else ""
        raise CommandFailed(_redacted(argv), -1, redact(out) + f"\ntimed out after {timeout} s") from exc
    result = Result(tuple(argv), proc.returncode, redact(proc.stdout or ""))
    if check and proc.returncode != 0:
        raise CommandFailed(_redacted(argv), proc.returncode, result.output)
    return result


def terminate_group(pid: int) -> None:
    """Send SIGTERM to the process group led by ``pid`` (started with ``start_new_session``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` still runs (zombies, which only wait to be reaped, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


async def _group_gone(pgid: int, within: float = 1.0) -> None:
    import asyncio  # lazily: `import shipyard.nox` must not pay ~14 ms for asyncio

    # SIGKILL is delivered asynchronously: give the kernel a moment so that "cancelled" means "gone".
    deadline = asyncio.get_running_loop().time() + within
    while _group_alive(pgid) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 - kernel state
        await asyncio.sleep(0.01)


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
    import asyncio  # lazily: `import shipyard.nox` must not pay ~14 ms for asyncio

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
        raise CommandFailed(
            _redacted(argv), 127, f"{argv[0]}: command not found; install it or put it on PATH"
        ) from exc
    from shipyard._secrets import StreamRedactor

    stream = StreamRedactor()
    chunks: list[str] = []
    partial = [""]  # a line whose end has not arrived yet: the sink receives whole lines only

    def emit(text: str) -> None:
        chunks.append(text)
        if on_output is not None and text:
            *lines, partial[0] = (partial[0] + text).split("\n")
            for line in lines:
                on_output(line.rstrip("\r"))

    assert proc.stdout is not None
    try:
        while data := await proc.stdout.read(65536):
            emit(stream.feed(data.decode("utf-8", errors="replace")))
        emit(stream.flush())
        if on_output is not None and partial[0]:
            on_output(partial[0].rstrip("\r"))
        returncode = await proc.wait()
    except BaseException:
        terminate_group(proc.pid)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), GRACE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            _kill_group(proc.pid)
        _kill_group(proc.pid)  # stragglers in the group that ignored SIGTERM
        await _group_gone(proc.pid)
        raise
    result = Result(tuple(argv), returncode, "".join(chunks))
    if check and returncode != 0:
        raise CommandFailed(_redacted(argv), returncode, result.output)
    return result
