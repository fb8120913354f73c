"""``shipyard init``: bring Shipyard to an existing project in one command, with no hand edits.

A pipeline of small steps: ``detect`` what the project has, ``find_app`` (or ``parse_app`` for ``--app``),
``make_plan`` of what is missing, ``apply`` it (never overwriting without ``force``). The library never prints;
``shipyard._init._cli`` reports.
"""

from __future__ import annotations

from pathlib import Path

from shipyard._init._app import App, find_app, parse_app
from shipyard._init._detect import Project, detect
from shipyard._init._plan import Options, Plan, make_plan
from shipyard._init._write import Report, apply

__all__ = ["App", "Options", "Plan", "Project", "Report", "detect", "find_app", "init", "next_commands", "plan"]


def plan(root: Path, options: Options) -> Plan:
    project = detect(root)
    notes: list[str] = []
    app = parse_app(options.app, project) if options.app else find_app(project, notes)
    made = make_plan(project, app, options)
    made.notes[:0] = notes
    return made


def init(root: Path, options: Options) -> tuple[Plan, Report]:
    """Plan and apply; returns both so the caller can say what was found and what was written."""
    made = plan(root.resolve(), options)
    return made, apply(made, options)


def next_commands(made: Plan) -> list[str]:
    """The two commands to run next: the tests, then a local deploy (an app) or the build (a library)."""
    first = (
        "uv run --locked nox -s tests"
        if made.project.tests_dir or "pytest" in made.project.tools
        else ("uv run --locked nox")
    )
    second = f"uv run --locked invoke deploy --env {made.env}" if made.app else "uv run --locked nox -s build"
    return [first, second]
