"""``shipyard ci plan`` and ``shipyard ci run JOB``: the generated jobs, read back, and run on this machine.

The plan is read from the workflow ``generate`` would write (not from a second model), so what runs locally is
what CI runs: every ``run:`` step in order, under ``bash -eo pipefail`` as GitHub does, with the step's ``env``
and the matrix cell filled in, and ``CI=true``. Steps that only make sense on GitHub are replaced by their local
meaning: checkout and setup-uv are skipped (this is the checkout; uv is here), artifact uploads copy into
``.shipyard/ci-artifacts/<name>/`` and downloads copy back, so ``ci run build`` then ``ci run tests`` tests
the wheel ``build`` made.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard import _command
from shipyard._errors import ConfigError
from shipyard._nox_listing import cached_listing, stamp, traced
from shipyard.ci._drift import matrix_cells
from shipyard.ci._model import GATE_JOB
from shipyard.ci._sessions import LIST_ALL_PYTHONS, Runner
from shipyard.ci._workflows import CI_WORKFLOW, render_project

__all__ = ["ARTIFACTS", "PlannedJob", "plan", "run_job"]

ARTIFACTS = ".shipyard/ci-artifacts"
_NOT_ON_A_RUNNER = frozenset({"UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV", "PYTHONPATH", "COVERAGE_FILE"})
_MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


@dataclass(frozen=True)
class PlannedJob:
    id: str
    name: str
    cells: list[dict[str, str]]
    needs: list[str]
    steps: list[dict[str, Any]] = field(repr=False)

    def commands(self) -> list[str]:
        return [str(step["run"]).strip() for step in self.steps if "run" in step]

    def __str__(self) -> str:
        head = f"{self.id}: {self.name}"
        if self.needs:
            head += f"  (after {', '.join(self.needs)})"
        lines = [head]
        if self.cells != [{}]:
            lines.append("  matrix: " + "; ".join(", ".join(f"{k}={v}" for k, v in c.items()) for c in self.cells))
        lines += [f"  $ {line}" for command in self.commands() for line in command.splitlines()]
        return "\n".join(lines)


def _cells(job: dict[str, Any]) -> list[dict[str, str]]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    cells = matrix_cells(matrix)
    return [c for c in cells if c] or [{}]


def plan(root: Path) -> list[PlannedJob]:
    """Every job of ci.yml, in order, with its matrix cells and commands."""
    import yaml

    workflows = render_project(root, run=_listing_cached(root))
    ci = next(w for w in workflows if w.path == CI_WORKFLOW)
    jobs = yaml.safe_load(ci.text)["jobs"]
    return [
        PlannedJob(jid, str(job.get("name", jid)), _cells(job), list(job.get("needs") or []), list(job["steps"]))
        for jid, job in jobs.items()
    ]


def _listing_cached(root: Path) -> Runner:
    """``_command.run``, but the noxfile's session listing comes from the cache ``invoke check`` keeps too
    (``shipyard._nox_listing``), stamped with the listing's own argv and variables: a job run locally starts no
    nox just to learn its own commands. ``ci generate`` and ``ci check`` always list afresh."""

    def run(
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
    ) -> _command.Result:
        if "--list-sessions" not in argv or "--noxfile" not in argv:
            return _command.run(argv, cwd=cwd, env=env, inherit_env=inherit_env)
        noxfile = Path(argv[list(argv).index("--noxfile") + 1])
        # The variables the listing sets for nox (no other value, a secret least of all, goes into the stamp).
        variables = sorted(f"{k}={v}" for k, v in (env or {}).items() if k.startswith("NOX") or k == LIST_ALL_PYTHONS)
        extra = [*argv, *variables]
        name = "ci-listing-" + hashlib.sha256("\0".join(argv).encode()).hexdigest()[:16]

        environ = {**(os.environ if inherit_env else {}), **(env or {})}  # what the listing sees

        def listing(trace: Mapping[str, str]) -> str:
            command = traced(argv) or argv
            return _command.run(command, cwd=cwd, env={**environ, **trace}, inherit_env=False).output

        output = cached_listing(root, name, stamp(root, noxfile, extra), listing, kind=str, environ=environ)
        return _command.Result(tuple(argv), 0, output)

    return run


def _fill(text: str, cell: dict[str, str]) -> str:
    text = _MATRIX_REF.sub(lambda m: cell.get(m.group(1), ""), text)
    if _EXPRESSION.search(text):
        raise ConfigError(f"{text!r} needs GitHub's context; this step cannot run locally")
    return text


def run_job(
    root: Path,
    job_id: str,
    *,
    shard: int | None = None,
    python: str | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run job ``job_id`` (every matrix cell, or the ones ``shard``/``python`` select); the exit code of the first
    failing step, or 0."""
    jobs = {job.id: job for job in plan(root)}
    if job_id not in jobs:
        raise ConfigError(f"no job {job_id!r} in {CI_WORKFLOW}; jobs: {', '.join(jobs)} (see `shipyard ci plan`)")
    job = jobs[job_id]
    if job_id == GATE_JOB or job_id.startswith("deploy-"):
        raise ConfigError(f"job {job_id!r} only makes sense on GitHub (it reads other jobs' results or deploys)")
    cells = job.cells
    if shard is not None:
        shards = sorted({c["shard"] for c in cells if "shard" in c}, key=int)
        if not shards:
            raise ConfigError(f"job {job_id!r} is not sharded; drop --shard")
        if str(shard) not in shards:
            raise ConfigError(f"--shard {shard}: job {job_id!r} has shards 1..{len(shards)}")
        cells = [c for c in cells if c.get("shard") == str(shard)]
    if python is not None:
        cells = [c for c in cells if c.get("python") == python]
        if not cells:
            raise ConfigError(f"--python {python}: job {job_id!r} runs on {', '.join(_pythons(job))}")
    for cell in cells:
        label = ", ".join(f"{k}={v}" for k, v in cell.items())
        out(f"shipyard ci run: job {job_id}" + (f" ({label})" if label else ""))
        failed = 0
        for step in job.steps:
            # After a failure GitHub still runs the steps marked !cancelled() or always() (the report uploads).
            if failed and not any(word in str(step.get("if", "")) for word in ("!cancelled()", "always()")):
                continue
            code = _step(root, step, cell, out)
            if code and not failed:
                out(f"shipyard ci run: step {step.get('name') or step.get('run')!r} failed with exit code {code}")
                failed = code
        if failed:
            return failed
    out(f"shipyard ci run: job {job_id} passed")
    return 0


def _pythons(job: PlannedJob) -> list[str]:
    return sorted({c["python"] for c in job.cells if "python" in c}) or ["no Python matrix"]


def _step(root: Path, step: dict[str, Any], cell: dict[str, str], out: Callable[[str], None]) -> int:
    uses = str(step.get("uses", ""))
    action = uses.split("@", 1)[0]
    inputs = {k: _fill(str(v), cell) for k, v in (step.get("with") or {}).items()}
    if action == "actions/upload-artifact":
        return _upload(root, inputs, out)
    if action == "actions/download-artifact":
        return _download(root, inputs, out)
    if uses:
        out(f"  skipped {action} (this checkout and this machine's uv stand in for it)")
        return 0
    env = {k: _fill(str(v), cell) for k, v in (step.get("env") or {}).items() if not _from_github(str(v), cell)}
    script = _fill(str(step["run"]), cell)
    if script.startswith("uv python install") and _python_found(env.get("PYTHON", "")):
        out(f"  Python {env.get('PYTHON')} is installed here")
        return 0
    out(f"  $ {script.strip()}")
    return _shell(root, script, env, out)


def _from_github(value: str, cell: dict[str, str]) -> bool:
    """A value only GitHub can give (a secret, the event): locally this machine's variable of that name stands in."""
    return bool(_EXPRESSION.search(_MATRIX_REF.sub(lambda m: cell.get(m.group(1), ""), value)))


def _python_found(version: str) -> bool:
    result = _command.run(["uv", "python", "find", version], check=False)
    return result.returncode == 0


#: Leads the step's process group on Linux, so that a ``ci run`` killed outright (SIGKILL: no handler runs) takes
#: its job with it: the kernel sends it SIGTERM when ``ci run`` dies (PR_SET_PDEATHSIG), and it stops the group (then
#: kills it after a grace) instead of leaving the job to finish, and store its result, unseen. Exits as the step.
_WATCHDOG = r"""
import ctypes, os, signal, subprocess, sys, time
child = None
def stop(*_):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
    end = time.monotonic() + 5
    while child is not None and child.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, stop)
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
child = subprocess.Popen(sys.argv[2:])
if os.getppid() != int(sys.argv[1]):  # ci run died before the signal was armed
    stop()
code = child.wait()
sys.exit(128 - code if code < 0 else code)
"""


def _shell(root: Path, script: str, env: dict[str, str], out: Callable[[str], None]) -> int:
    import asyncio
    import sys

    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    if sys.platform == "linux":
        argv = [sys.executable, "-I", "-c", _WATCHDOG, str(os.getpid()), *argv]
    # A runner starts clean: an environment this command was started from (a nox session sets both) must not
    # redirect the job's `uv run` into another venv.
    base = {k: v for k, v in os.environ.items() if k not in _NOT_ON_A_RUNNER and not k.startswith("NOX")}

    async def step() -> int:
        # The step runs in a process group of its own (a killed `ci run` must not leave it running): SIGTERM
        # cancels it as Ctrl-C does, and the cancellation terminates the group (then kills it after a grace).
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            result = await _command.run_async(
                argv, cwd=root, env={**base, "CI": "true", **env}, inherit_env=False, check=False, on_output=out
            )
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
        return result.returncode

    try:
        return asyncio.run(step())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None  # the CLI's "interrupted", exit 130


def _upload(root: Path, inputs: dict[str, str], out: Callable[[str], None]) -> int:
    name, source = inputs["name"], root / inputs["path"]
    files = (
        [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else []
    )
    if not files:
        out(f"  upload {name}: no files at {inputs['path']}")
        return 1 if inputs.get("if-no-files-found", "warn") == "error" else 0
    target = root / ARTIFACTS / name
    shutil.rmtree(target, ignore_errors=True)
    for path in files:
        rel = path.relative_to(source) if source.is_dir() else Path(path.name)
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / rel)
    out(f"  uploaded {len(files)} file(s) as {name} (locally: {ARTIFACTS}/{name})")
    return 0


def _download(root: Path, inputs: dict[str, str], out: Callable[[str], None]) -> int:
    store = root / ARTIFACTS
    pattern = inputs.get("pattern") or inputs.get("name", "")
    names = sorted(p.name for p in store.iterdir() if fnmatch.fnmatchcase(p.name, pattern)) if store.is_dir() else []
    if not names:
        out(f"  download {pattern}: no such artifact here; run the job that uploads it first (`shipyard ci plan`)")
        return 1
    dest = root / inputs.get("path", ".")
    for name in names:
        shutil.copytree(
            store / name,
            dest if inputs.get("merge-multiple") == "True" or "name" in inputs else dest / name,
            dirs_exist_ok=True,
        )
    out(f"  downloaded {', '.join(names)} into {inputs.get('path', '.')}")
    return 0
