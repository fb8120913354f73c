"""Carrying out a plan: pyproject edits and the lock first (the step that can fail), then the files, then CI.

Nothing that exists is replaced without ``force``; with ``diff`` nothing is written at all. A lock that cannot be
made puts pyproject.toml back as it was and raises one line with uv's reason.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from shipyard import _command
from shipyard._errors import ConfigError, ShipyardError
from shipyard._init._plan import FileChange, Options, Plan

__all__ = ["Report", "apply"]


@dataclass
class Report:
    """What init did, line by line: (action, path, detail). ``diff`` holds the --diff output."""

    lines: list[tuple[str, str, str]] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)

    def add(self, action: str, path: str, detail: str = "") -> None:
        self.lines.append((action, path, detail))

    @property
    def changed(self) -> bool:
        return any(action in {"wrote", "replaced", "updated"} for action, _, _ in self.lines)


def apply(plan: Plan, options: Options) -> Report:
    report = Report()
    root = plan.project.root
    if not options.diff:
        _preflight(plan, options)
    _pyproject_and_lock(plan, options, report)
    for change in plan.files:
        if _in_the_way(root / change.path):
            report.add("kept", change.path, "not a regular file; init leaves it alone")
        else:
            _file(root, change, options, report)
    if plan.workflows and not options.diff:
        _workflows(root, report)
    for note in plan.notes:
        report.add("note", "", note)
    return report


def _preflight(plan: Plan, options: Options) -> None:
    """Every path init would write, checked before the first edit: a half-adopted project is worse than none."""
    root = plan.project.root
    paths = ["pyproject.toml", *(["uv.lock"] if plan.lock else [])]
    for change in plan.files:
        path = root / change.path
        if _in_the_way(path):
            if options.force:
                raise ConfigError(f"{change.path}: not a regular file, so --force cannot replace it; remove it first")
            continue  # left alone and reported by _file
        if change.append or options.force or not path.exists():
            paths.append(change.path)
    for name in paths:
        path = root / name
        try:
            if path.exists():
                with path.open("a"):  # opening to append writes nothing; it fails on a read-only/immutable file
                    pass
            elif not os.access(path.parent, os.W_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            raise ConfigError(
                f"{name}: cannot be written ({exc.strerror or exc}); make it writable, then run init again"
            ) from None


def _in_the_way(path: Path) -> bool:
    """Something other than a regular file (a directory, a symlink, ...) where init would write one."""
    return path.is_symlink() or (path.exists() and not path.is_file())


def _uv() -> str:
    from shipyard._uv import find_uv

    return str(find_uv())


def _pyproject_and_lock(plan: Plan, options: Options, report: Report) -> None:
    root = plan.project.root
    path = root / "pyproject.toml"
    original = path.read_text()
    if options.diff:
        for group, requirements in plan.dependencies:
            where = "[project.dependencies]" if group is None else f"[dependency-groups].{group}"
            report.diff.append(f"pyproject.toml: would add to {where}: {', '.join(requirements)}")
        if plan.tables:
            report.diff.extend(_unified("pyproject.toml", original, original.rstrip("\n") + "\n" + plan.tables))
        if plan.lock:
            report.diff.append("uv.lock: would be (re)made with `uv lock`")
        return
    added: list[str] = []
    try:
        for group, requirements in plan.dependencies:
            flags = [] if group is None else ["--dev"] if group == "dev" else ["--group", group]
            _run([_uv(), "add", "--frozen", *flags, *requirements], root)
            added.append(f"{group or 'dependencies'}: {', '.join(requirements)}")
        if plan.tables:
            text = path.read_text()
            path.write_text(text.rstrip("\n") + "\n" + plan.tables)
            added.append("[tool.shipyard] " + ", ".join(_table_names(plan.tables)))
        if plan.lock:
            had_lock = (root / "uv.lock").exists()
            _lock(root)
            report.add("updated" if had_lock else "wrote", "uv.lock", "uv lock")
    except BaseException:
        path.write_text(original)  # a half-edited pyproject is worse than none: put it back
        raise
    if added:
        report.add("updated", "pyproject.toml", "; ".join(added))
    else:
        report.add("kept", "pyproject.toml", "has every dependency group and [tool.shipyard] table")


def _table_names(tables: str) -> list[str]:
    return [line.strip("[]").removeprefix("tool.shipyard.") for line in tables.splitlines() if line.startswith("[")]


def _run(argv: list[str], root: Path) -> None:
    result = _command.run(argv, cwd=root, check=False)
    if result.returncode != 0:
        raise ConfigError(f"`uv {' '.join(argv[1:])}` failed: {_reason(result.output)}", file="pyproject.toml")


def _lock(root: Path) -> None:
    result = _command.run([_uv(), "lock"], cwd=root, check=False)
    if result.returncode != 0:
        raise ConfigError(f"uv.lock cannot be made: {_reason(result.output)}; fix pyproject.toml, then run init again")


def _reason(output: str) -> str:
    """uv's explanation, folded to one line: its errors, causes and hints; of a build backend's captured stderr
    only the last line (the exception), never its traceback; no progress lines or warnings.
    """
    lines = [line.strip(" \u00d7\u2570\u2500\u25b6\u2502") for line in output.splitlines()]
    kept: list[str] = []
    in_stderr: list[str] = []
    capturing = False
    for line in lines:
        if line == "[stderr]":
            capturing, in_stderr = True, []
            continue
        if capturing and not line.startswith(("hint:", "error:", "cause:", "help:")):
            if line:
                in_stderr.append(line)
            continue
        if capturing:
            capturing = False
            if in_stderr:
                kept.append(in_stderr[-1])
        if not line or line.startswith(("warning:", "Resolved", "Using ", "Updating", "Updated", "Building", "Built")):
            continue
        kept.append(line)
    if capturing and in_stderr:
        kept.append(in_stderr[-1])
    return " ".join(" ".join(kept).split()) or "no output"


def _file(root: Path, change: FileChange, options: Options, report: Report) -> None:
    path = root / change.path
    current = path.read_text() if path.is_file() else None
    if change.append:
        wanted = _appended(current or "", change.text)
        if wanted == (current or ""):
            report.add("kept", change.path, "already has every entry")
            return
        if options.diff:
            report.diff.extend(_unified(change.path, current or "", wanted))
            return
        path.write_text(wanted)
        report.add("updated" if current is not None else "wrote", change.path, "added the entries it lacked")
        return
    if current == change.text:
        report.add("kept", change.path, "unchanged")
        return
    if options.diff:
        if current is not None and not options.force:
            report.diff.append(f"{change.path}: exists, so init keeps it; --force would write:")
        report.diff.extend(_unified(change.path, current or "", change.text))
        return
    if current is not None and not options.force:
        report.add("kept", change.path, "exists; not overwritten (--diff shows the change, --force replaces it)")
        return
    path.write_text(change.text)
    report.add("replaced" if current is not None else "wrote", change.path)


def _appended(current: str, lines_text: str) -> str:
    present = {line.strip().strip("/") for line in current.splitlines()}
    present |= {entry.lstrip("/") for entry in present}
    missing = [line for line in lines_text.splitlines() if line.strip().strip("/") not in present]
    if not missing:
        return current
    prefix = current if not current or current.endswith("\n") else current + "\n"
    return prefix + "# shipyard\n" + "\n".join(missing) + "\n"


def _unified(name: str, old: str, new: str) -> list[str]:
    label = f"a/{name}" if old else "/dev/null"
    return list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=label, tofile=f"b/{name}", lineterm="")
    )


def _workflows(root: Path, report: Report) -> None:
    from shipyard import ci

    try:
        changed = ci.generate(root)
    except ShipyardError as exc:
        report.add("kept", ".github/workflows", f"not generated: {exc}")
        return
    for path in changed:
        report.add("wrote", str(path.relative_to(root)), "shipyard ci generate")
    if not changed:
        report.add("kept", ".github/workflows", "up to date with the noxfile")
