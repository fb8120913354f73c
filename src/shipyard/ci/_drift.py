"""Where a CI workflow and the noxfile disagree, each difference named in one line.

The workflow is read back as YAML and every job's ``nox -s`` call is expanded over its matrix, so the check
also understands a file edited by hand (which it reports as such, besides any difference it causes).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shipyard.ci._model import GATE_JOB
from shipyard.ci._pins import Pin, is_sha
from shipyard.ci._sessions import NoxSession

__all__ = ["Drift", "DriftKind", "Run", "compare", "deploy_drift", "matrix_cells", "pin_drift", "runs_in"]

_NOX_CALL = re.compile(
    # `invoke check --only S` runs session S through the cache (a job with a cache store): the same session.
    r"\b(?:nox\s+(?:-s|--sessions?|-e)|invoke\s+check\s+--only)[\s=]+(\"[^\"]*\"|'[^']*'|\S+)"
)
_SHELL_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")
_DEPLOY_CALL = re.compile(r"\binvoke\s+deploy\s+(?:--env|-e)[\s=]+(\"[^\"]*\"|'[^']*'|\S+)")
_USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([^@\s'\"]+)@([^\s'\"#]+)['\"]?\s*(?:#\s*(\S+))?")
_PYTHON_INSTALL = re.compile(r"\buv\s+python\s+install\s+(\"[^\"]*\"|'[^']*'|\S+)")


class DriftKind(Enum):
    MISSING_FILE = "missing file"
    EDITED = "edited by hand"
    NOT_RUN = "session not run"
    UNKNOWN_SESSION = "unknown session"
    PYTHON_MISMATCH = "python mismatch"
    GATE = "gate incomplete"
    OUTDATED = "out of date"
    UNPINNED = "action not pinned"
    PIN_MISMATCH = "pin mismatch"
    UNKNOWN_ENVIRONMENT = "unknown environment"


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Run:
    """One ``nox -s`` call a workflow makes: in which job, which session, under which Python (if it says)."""

    job: str
    session: str
    python: str | None


def runs_in(workflow: dict[str, Any]) -> list[Run]:
    """Every session the workflow runs, matrices expanded (``tests-${{ matrix.python }}`` -> one per cell)."""
    runs: list[Run] = []
    jobs = workflow.get("jobs") or {}
    for job_id, job in jobs.items() if isinstance(jobs, dict) else ():
        if not isinstance(job, dict):
            continue
        for cell in _cells(job):
            python = _python_of(job, cell)
            for step in job.get("steps") or []:
                if not isinstance(step, dict) or not isinstance(step.get("run"), str):
                    continue
                env = {**_str_map(job.get("env")), **_str_map(step.get("env"))}
                for match in _NOX_CALL.finditer(step["run"]):
                    session = _expand(match.group(1).strip("\"'"), env, cell)
                    runs.append(Run(str(job_id), session, python))
    return runs


def _cells(job: dict[str, Any]) -> list[dict[str, str]]:
    matrix = (job.get("strategy") or {}).get("matrix") if isinstance(job.get("strategy"), dict) else None
    return matrix_cells(matrix) if isinstance(matrix, dict) else [{}]


def matrix_cells(matrix: dict[str, Any]) -> list[dict[str, str]]:
    """The cells GitHub runs for ``matrix``: the product of its axes, then each ``include`` entry merged into
    every cell whose original values it matches (or added as a cell of its own when it matches none)."""
    axes = {k: v for k, v in matrix.items() if k not in {"include", "exclude"} and isinstance(v, list)}
    combos = itertools.product(*axes.values()) if axes else ()
    cells: list[dict[str, str]] = [{k: str(v) for k, v in zip(axes, combo, strict=True)} for combo in combos]
    for extra in matrix.get("include") or []:
        if not isinstance(extra, dict):
            continue
        entry = {str(k): str(v) for k, v in extra.items()}
        matched = [c for c in cells if all(c[k] == v for k, v in entry.items() if k in axes)]
        if matched and any(k in axes for k in entry):
            for cell in matched:
                cell.update(entry)
        else:
            cells.append(entry)
    return cells or [{}]


def _python_of(job: dict[str, Any], cell: dict[str, str]) -> str | None:
    for step in job.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("run"), str):
            match = _PYTHON_INSTALL.search(step["run"])
            if match:
                return _expand(match.group(1).strip("\"'"), _str_map(step.get("env")), cell) or None
    return None


def _expand(text: str, env: dict[str, str], cell: dict[str, str]) -> str:
    text = _SHELL_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)
    return _MATRIX_REF.sub(lambda m: cell.get(m.group(1), m.group(0)), text)


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def compare(sessions: Sequence[NoxSession], workflow: dict[str, Any], *, file: str, noxfile: str) -> list[Drift]:
    """The differences between the noxfile's default sessions and the sessions ``workflow`` runs."""
    return [*_session_drift(sessions, runs_in(workflow), file=file, noxfile=noxfile), *_gate_drift(workflow, file)]


def _session_drift(sessions: Sequence[NoxSession], runs: list[Run], *, file: str, noxfile: str) -> Iterator[Drift]:
    expected = {s.session: s for s in sessions}
    by_name: dict[str, list[NoxSession]] = {}
    for s in sessions:
        by_name.setdefault(s.name, []).append(s)
    ran = {run.session for run in runs}
    mismatched: set[str] = set()

    def parametrization_of(session: str) -> str | None:
        # tests-3.12 belongs to `tests` when the noxfile parametrizes tests by Python.
        for name, group in by_name.items():
            if any(s.python for s in group) and session.startswith(f"{name}-"):
                return name
        return None

    for run in runs:
        session = expected.get(run.session)
        if session is None:
            name = parametrization_of(run.session)
            if name is not None:
                mismatched.add(name)
                continue
            yield Drift(
                DriftKind.UNKNOWN_SESSION,
                f"{file}: job {run.job!r} runs session {run.session!r}, which {noxfile} does not define as a "
                f"default session (`nox -l`); remove the job or add the session, then run `shipyard ci generate`",
            )
        elif session.python and run.python and run.python != session.python:
            mismatched.add(session.name)
    for session in sessions:
        if session.session in ran or session.name in mismatched:
            continue
        if session.python and any(s.session in ran for s in by_name[session.name]):
            mismatched.add(session.name)
            continue
        yield Drift(
            DriftKind.NOT_RUN,
            f"{file}: no job runs session {session.session!r} from {noxfile}; run `shipyard ci generate`",
        )
    for name in sorted(mismatched):
        want = ", ".join(s.python or "?" for s in by_name[name])
        have = ", ".join(sorted(_pythons_run(name, runs))) or "none"
        yield Drift(
            DriftKind.PYTHON_MISMATCH,
            f"{file}: session {name!r} runs on Python {have} in CI but on {want} in {noxfile}; "
            f"run `shipyard ci generate`",
        )


def _pythons_run(name: str, runs: list[Run]) -> set[str]:
    found = set()
    for run in runs:
        if run.session.startswith(f"{name}-"):
            found.add(run.python or run.session[len(name) + 1 :])
        elif run.session == name and run.python:
            found.add(run.python)
    return found


def _gate_drift(workflow: dict[str, Any], file: str) -> Iterator[Drift]:
    jobs = workflow.get("jobs") or {}
    if not isinstance(jobs, dict):
        return
    session_jobs = sorted({run.job for run in runs_in(workflow)})
    gate = jobs.get(GATE_JOB)
    if not isinstance(gate, dict):
        yield Drift(DriftKind.GATE, f"{file}: no {GATE_JOB!r} job gates the session jobs; run `shipyard ci generate`")
        return
    needs = gate.get("needs") or []
    needs = [needs] if isinstance(needs, str) else needs
    for job in session_jobs:
        if job not in needs:
            yield Drift(
                DriftKind.GATE,
                f"{file}: job {GATE_JOB!r} does not wait for job {job!r}, so it could pass while {job!r} fails; "
                "run `shipyard ci generate`",
            )


def pin_drift(text: str, *, file: str, pins: dict[str, Pin], overridden: set[str]) -> Iterator[Drift]:
    """Every ``uses:`` that is not a full commit SHA, or whose SHA or version comment disagrees with the pins."""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _USES_LINE.match(line)
        if not match or match.group(1).startswith((".", "docker:")):
            continue
        action, ref, comment = match.group(1), match.group(2), match.group(3)
        where = f"{file}:{number}"
        if not is_sha(ref):
            yield Drift(
                DriftKind.UNPINNED,
                f"{where}: {action}@{ref} is not pinned to a full 40-hex commit SHA (a tag can be moved); "
                f"run `shipyard ci pins update {action}` and `shipyard ci generate`",
            )
            continue
        pin = pins.get(action)
        if pin is None:
            continue
        table = "[tool.shipyard.ci.pins]" if action in overridden else "Shipyard's built-in pins"
        if ref != pin.sha:
            yield Drift(
                DriftKind.PIN_MISMATCH,
                f"{where}: {action}@{ref} is not the commit {table} name ({pin.sha}, {pin.version}); "
                "run `shipyard ci generate` (or `shipyard ci pins update` to move the pin)",
            )
        elif comment != pin.version:
            yield Drift(
                DriftKind.PIN_MISMATCH,
                f"{where}: {action}@{ref[:12]} is commented {('# ' + comment) if comment else 'with no version'} "
                f"but {table} call that commit {pin.version}; run `shipyard ci generate`",
            )


def hand_written_pin_drift(text: str, *, file: str) -> Iterator[Drift]:
    """A workflow ``ci generate`` does not own: only refs that can move (its pinned SHAs are its own business)."""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _USES_LINE.match(line)
        if not match or match.group(1).startswith((".", "docker:")) or is_sha(match.group(2)):
            continue
        action, ref = match.group(1), match.group(2)
        yield Drift(
            DriftKind.UNPINNED,
            f"{file}:{number}: {action}@{ref} is not pinned to a full 40-hex commit SHA (a tag can be moved); this "
            f"file is yours, so replace the ref with the commit (`shipyard ci pins update {action}` resolves it and "
            "`shipyard ci pins list` shows it)",
        )


def deploy_drift(
    workflow: dict[str, Any], *, file: str, known: Sequence[str], deployable: Sequence[str]
) -> Iterator[Drift]:
    """Deploy jobs whose environment ``[tool.shipyard.environments]`` does not define, or CI cannot reach."""
    jobs = workflow.get("jobs") or {}
    for job_id, job in jobs.items() if isinstance(jobs, dict) else ():
        if not isinstance(job, dict):
            continue
        for step in job.get("steps") or []:
            if not isinstance(step, dict) or not isinstance(step.get("run"), str):
                continue
            env = {**_str_map(job.get("env")), **_str_map(step.get("env"))}
            for match in _DEPLOY_CALL.finditer(step["run"]):
                target = _expand(match.group(1).strip("\"'"), env, {})
                for name in _environments_named(target, workflow):
                    if name not in known:
                        yield Drift(
                            DriftKind.UNKNOWN_ENVIRONMENT,
                            f"{file}: job {job_id!r} deploys to environment {name!r}, which [tool.shipyard."
                            f"environments] does not define ({', '.join(sorted(known)) or 'none defined'}); "
                            "run `shipyard ci generate`",
                        )
                    elif name not in deployable:
                        yield Drift(
                            DriftKind.UNKNOWN_ENVIRONMENT,
                            f"{file}: job {job_id!r} deploys to environment {name!r}, a Docker engine on this "
                            "machine that a CI runner cannot reach; run `shipyard ci generate`",
                        )


def _environments_named(target: str, workflow: dict[str, Any]) -> list[str]:
    """A literal name, or for an expression its quoted fallbacks plus the dispatch input's choices."""
    if "${{" not in target:
        return [target]
    names = re.findall(r"'([^']+)'", target)
    if "inputs.environment" in target:
        on = workflow.get("on") or workflow.get(True) or {}  # type: ignore[call-overload]  # PyYAML reads a bare `on:` key as True
        dispatch = on.get("workflow_dispatch") if isinstance(on, dict) else None
        inputs = (dispatch or {}).get("inputs") if isinstance(dispatch, dict) else None
        spec = (inputs or {}).get("environment") if isinstance(inputs, dict) else None
        options = spec.get("options") if isinstance(spec, dict) else None
        names += [str(o) for o in options or [] if str(o) not in names]
    return names
