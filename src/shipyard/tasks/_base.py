"""The task decorator every Shipyard task uses: errors become one line on stderr and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from invoke.exceptions import Exit as InvokeExit
from invoke.tasks import Task, task

from shipyard._cli import Exit, handle_errors

__all__ = ["shipyard_task"]


def shipyard_task(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Task[Any]]:
    """``@invoke.task`` whose ``ShipyardError`` s exit cleanly (message, exit code, no traceback)."""

    def decorate(body: Callable[..., Any]) -> Task[Any]:
        @functools.wraps(body)
        def run(c: Any, *a: Any, **kw: Any) -> Any:
            try:
                with handle_errors("invoke"):
                    return body(c, *a, **kw)
            except Exit as exc:
                raise InvokeExit(code=int(exc.code or 1)) from None

        made: Task[Any] = task(*args, **kwargs)(run)
        return made

    return decorate
