"""Task ``init``: ``shipyard init`` as an invoke task, with the same options."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shipyard.tasks._base import shipyard_task

__all__ = ["init"]


@shipyard_task(
    help={
        "root": "the project's root (default: the current directory)",
        "app": "the app to serve: module:attr or module:factory() (default: found)",
        "force": "replace files that exist with what init writes",
        "diff": "show what init would change, and change nothing",
        "port": "the local environment's port (default: a free one)",
        "registry": "the local environment's registry",
        "shipyard": "how the project depends on Shipyard, as `uv add` takes it (default: where it came from)",
        "no_workflows": "do not generate .github/workflows",
        "env": "the name of the environment init writes (default: local)",
    }
)
def init(  # noqa: PLR0917 - invoke turns each parameter into an option
    c: Any,
    root: str = "",
    app: str = "",
    force: bool = False,
    diff: bool = False,
    port: int = 0,
    registry: str = "127.0.0.1:5000",
    shipyard: str = "",
    no_workflows: bool = False,
    env: str = "local",
) -> None:
    """Add lockfile-bound sessions, tasks, an image, a local environment and CI to an existing project."""
    from shipyard._init import _cli

    args = argparse.Namespace(
        root=Path(root) if root else None,
        app=app or None,
        force=force,
        diff=diff,
        port=port or None,
        registry=registry,
        shipyard=shipyard or None,
        no_workflows=no_workflows,
        env=env,
        json=False,
    )
    _cli.run(args)
