"""``generate`` writes the workflows from the noxfile; ``check`` lists every way the files on disk differ."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard import _command
from shipyard._errors import CommandFailed, ConfigError
from shipyard.ci._action import ACTION_FILE, composite_action
from shipyard.ci._config import CiConfig, load_config
from shipyard.ci._deploys import DeployPlan, plan_deploys
from shipyard.ci._drift import Drift, DriftKind, compare, deploy_drift, hand_written_pin_drift, pin_drift
from shipyard.ci._model import ci_workflow, default_plan, deploy_workflow
from shipyard.ci._pins import Pin
from shipyard.ci._render import digest, render, split_header
from shipyard.ci._sessions import NoxSession, Runner, list_sessions

__all__ = [
    "CI_WORKFLOW",
    "DEPLOY_WORKFLOW",
    "Project",
    "Workflow",
    "check",
    "diff",
    "generate",
    "load_project",
    "render_project",
    "render_workflows",
]

CI_WORKFLOW = ".github/workflows/ci.yml"
DEPLOY_WORKFLOW = ".github/workflows/deploy.yml"


@dataclass(frozen=True)
class Workflow:
    """A workflow file as ``shipyard ci generate`` would write it."""

    path: str  # relative to the project root
    text: str


def render_workflows(sessions: list[NoxSession], config: CiConfig, deploys: DeployPlan | None = None) -> list[Workflow]:
    """The files for these sessions and this configuration (pure: no I/O)."""
    _check_session_names(sessions, config)
    deploys = deploys or default_plan(config)
    source = f"{config.noxfile} and [tool.shipyard.ci]"
    pins = config.pins
    by_uses = {pin.uses: pin for pin in pins.values()}
    files = [
        Workflow(
            CI_WORKFLOW, render(_pinned(ci_workflow(sessions, config, deploys), pins), source=source, pins=by_uses)
        )
    ]
    if deploys.tag or (config.deploy and deploys.choices):
        doc = _pinned(deploy_workflow(config, deploys), pins)
        files.append(Workflow(DEPLOY_WORKFLOW, render(doc, source=source, pins=by_uses)))
    if config.action:
        doc = _pinned(composite_action(config.uv_version), pins)
        files.append(Workflow(ACTION_FILE, render(doc, source="[tool.shipyard.ci] action = true", pins=by_uses)))
    return files


def _pinned(doc: Any, pins: dict[str, Pin]) -> Any:
    """Replace every bare ``uses: owner/action`` with its pinned ``owner/action@<sha>``."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if key == "uses" and isinstance(value, str) and "@" not in value:
                if value not in pins:
                    raise ConfigError(f"no pin for {value}; run `shipyard ci pins update {value}`")
                value = pins[value].uses  # noqa: PLW2901
            out[key] = _pinned(value, pins)
        return out
    if isinstance(doc, list):
        return [_pinned(item, pins) for item in doc]
    return doc


def _check_session_names(sessions: list[NoxSession], config: CiConfig) -> None:
    """Every session ``[tool.shipyard.ci]`` names must be one the workflow runs (one line naming the key)."""
    names = {s.name for s in sessions}
    file = "pyproject.toml"
    checks: list[tuple[str, list[str]]] = [
        ("setup-sessions", list(config.setup_sessions)),
        ("junit-sessions", list(config.junit_sessions)),
        ("wheel-sessions", list(config.wheel_sessions)),
        ("build-session", [config.build_session] if config.build_session else []),
        ("shard-session", [config.shard_session] if config.shards > 1 or config.coverage else []),
        ("jobs", list(config.jobs)),
    ]
    for key, wanted in checks:
        for name in wanted:
            if name not in names:
                raise ConfigError(
                    f"names session {name!r}, which no job runs ({', '.join(sorted(names))}); fix the name or add "
                    "it to extra-sessions",
                    file=file,
                    key=f"tool.shipyard.ci.{key}",
                )


@dataclass(frozen=True)
class Project:
    """What generation reads from a project: its configuration, sessions and deploy plan."""

    config: CiConfig
    sessions: list[NoxSession]
    deploys: DeployPlan


def load_project(root: Path, *, run: Runner = _command.run) -> Project:
    config = load_config(root)
    sessions = list_sessions(root, config.noxfile, run=run)
    if config.extra_sessions:
        have = {s.name for s in sessions} | {s.session for s in sessions}
        extra = [name for name in config.extra_sessions if name not in have]
        if extra:
            found = _list_selected(root, config.noxfile, extra, run=run)
            missing = sorted(set(extra) - {s.name for s in found} - {s.session for s in found})
            if missing:
                raise ConfigError(
                    f"session {missing[0]!r} is not defined in {config.noxfile}; fix the name or define it",
                    file=str(root / "pyproject.toml"),
                    key="tool.shipyard.ci.extra-sessions",
                )
            sessions += found
    return Project(config, sessions, plan_deploys(root, config))


def _list_selected(root: Path, noxfile: str, names: list[str], *, run: Runner) -> list[NoxSession]:
    """The named sessions; nox refuses the whole listing when one is unknown, so then each is listed alone."""
    try:
        return list_sessions(root, noxfile, run=run, select=names)
    except CommandFailed as exc:
        if "Sessions not found" not in exc.output or len(names) == 1:
            if "Sessions not found" in exc.output:
                return []
            raise
    return [s for name in names for s in _list_selected(root, noxfile, [name], run=run)]


def render_project(root: Path, *, run: Runner = _command.run) -> list[Workflow]:
    project = load_project(root, run=run)
    return render_workflows(project.sessions, project.config, project.deploys)


def refuse_hand_written(root: Path, paths: list[str], *, then: str = "so it was left as it is") -> None:
    """Raise ``ConfigError`` for the first of ``paths`` that exists and was not written by ``generate``."""
    for name in paths:
        path = root / name
        if path.is_file() and split_header(path.read_text())[0] is None:
            raise ConfigError(
                f"{name} was not written by `shipyard ci generate` (no shipyard-digest header), {then}; "
                "`shipyard ci generate --diff` shows what would change, --force replaces it"
            )


def generate(root: Path, *, run: Runner = _command.run, force: bool = False) -> list[Path]:
    """Write the workflows of the project at ``root``; returns the files whose content changed.

    A file at one of those paths that ``shipyard ci generate`` did not write (no digest header) is never replaced
    unless ``force``: it is someone's hand-written CI.
    """
    workflows = render_project(root, run=run)
    if not force:
        refuse_hand_written(root, [workflow.path for workflow in workflows])
    changed = []
    for workflow in workflows:
        path = root / workflow.path
        if path.is_file() and path.read_text() == workflow.text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(workflow.text)
        tmp.replace(path)
        changed.append(path)
    return changed


def diff(root: Path, *, run: Runner = _command.run) -> str:
    """A unified diff from the files on disk to what ``generate`` would write (empty: nothing would change)."""
    import difflib

    out: list[str] = []
    for workflow in render_project(root, run=run):
        path = root / workflow.path
        old = path.read_text() if path.is_file() else ""
        out += difflib.unified_diff(
            old.splitlines(keepends=True),
            workflow.text.splitlines(keepends=True),
            fromfile=f"a/{workflow.path}" if old else "/dev/null",
            tofile=f"b/{workflow.path}",
        )
    return "".join(out)


def check(root: Path, *, run: Runner = _command.run) -> list[Drift]:
    """Every difference between the workflows on disk and the noxfile; empty when CI runs what nox would."""
    project = load_project(root, run=run)
    config, sessions = project.config, project.sessions
    pins = config.pins
    drifts: list[Drift] = []
    for workflow in render_workflows(sessions, config, project.deploys):
        path = root / workflow.path
        if not path.is_file():
            drifts.append(Drift(DriftKind.MISSING_FILE, f"{workflow.path} does not exist; run `shipyard ci generate`"))
            continue
        text = path.read_text()
        found = _file_drift(workflow.path, text)
        found += pin_drift(text, file=workflow.path, pins=pins, overridden=set(config.pin_overrides))
        parsed = _parse(text)
        if parsed is None:
            found.append(
                Drift(DriftKind.EDITED, f"{workflow.path} does not parse as a YAML mapping; run `shipyard ci generate`")
            )
        else:
            if workflow.path == CI_WORKFLOW:
                found += compare(sessions, parsed, file=workflow.path, noxfile=config.noxfile)
            found += deploy_drift(
                parsed, file=workflow.path, known=project.deploys.known, deployable=project.deploys.choices
            )
        if not found and text != workflow.text:
            found.append(
                Drift(
                    DriftKind.OUTDATED,
                    f"{workflow.path} differs from what this Shipyard generates (action pins, [tool.shipyard.ci] "
                    "or the generator changed); run `shipyard ci generate`",
                )
            )
        drifts += found
    stale = root / DEPLOY_WORKFLOW
    if stale.is_file() and all(w.path != DEPLOY_WORKFLOW for w in render_workflows(sessions, config, project.deploys)):
        parsed = _parse(stale.read_text())
        if parsed is not None:
            drifts += deploy_drift(
                parsed, file=DEPLOY_WORKFLOW, known=project.deploys.known, deployable=project.deploys.choices
            )
    rendered = {w.path for w in render_workflows(sessions, config, project.deploys)}
    folder = root / ".github" / "workflows"
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else ():
        name = path.relative_to(root).as_posix()
        if name not in rendered and path.suffix in (".yml", ".yaml") and path.is_file():
            drifts += hand_written_pin_drift(path.read_text(errors="replace"), file=name)
    return drifts


def _file_drift(name: str, text: str) -> list[Drift]:
    recorded, body = split_header(text)
    if recorded is None:
        return [
            Drift(
                DriftKind.EDITED,
                f"{name} has no shipyard-digest header, so it was not generated by "
                "`shipyard ci generate`; move your changes to the noxfile or [tool.shipyard.ci] and regenerate",
            )
        ]
    if recorded != digest(body):
        return [
            Drift(
                DriftKind.EDITED,
                f"{name} was edited by hand since it was generated (its digest no longer "
                "matches); move the change to the noxfile or [tool.shipyard.ci], then run `shipyard ci generate`",
            )
        ]
    return []


def _parse(text: str) -> dict[str, Any] | None:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None
