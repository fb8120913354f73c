"""Tasks ``ci.generate`` and ``ci.check``: the same as ``shipyard ci generate`` / ``shipyard ci check``."""

from __future__ import annotations

import sys
from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from shipyard.tasks._base import shipyard_task

__all__ = ["check", "collection", "generate", "plan"]


@shipyard_task(help={"force": "replace workflows ci generate did not write", "diff": "print what would change"})
def generate(c: Any, force: bool = False, diff: bool = False) -> None:
    """Write .github/workflows from the noxfile and [tool.shipyard.ci]."""
    from shipyard import _pyproject, ci

    root = _pyproject.find_root()
    if diff:
        sys.stdout.write(ci.diff(root) or "workflows already up to date\n")
        return
    changed = ci.generate(root, force=force)
    for path in changed:
        print(f"wrote {path.relative_to(root)}")  # noqa: T201 - tasks report to their user
    if not changed:
        print("workflows already up to date")  # noqa: T201


@shipyard_task()
def check(c: Any) -> None:
    """Fail naming every difference between .github/workflows and the noxfile."""
    from shipyard import _pyproject, ci

    drifts = ci.check(_pyproject.find_root())
    for drift in drifts:
        print(f"invoke ci.check: {drift}", file=sys.stderr)  # noqa: T201
    if drifts:
        raise Exit(code=1)
    print("workflows match the noxfile")  # noqa: T201


@shipyard_task()
def plan(c: Any) -> None:
    """Print the jobs of the generated workflows, their sessions and commands."""
    from shipyard import _pyproject
    from shipyard.ci._plan import plan as plan_jobs

    for job in plan_jobs(_pyproject.find_root()):
        print(job)  # noqa: T201


def collection() -> Collection:
    """The ``ci`` collection: ``ci.generate``, ``ci.check`` and ``ci.plan``."""
    return Collection("ci", generate, check, plan)
