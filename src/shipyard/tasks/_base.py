"""The task decorator every Shipyard task uses: errors become one line on stderr and an exit code."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from invoke.exceptions import Exit as InvokeExit
from invoke.tasks import Task, task

from shipyard._cli import Exit, handle_errors

__all__ = ["shipyard_task"]

_LOG_FORMAT_HELP = "how log lines read: auto (JSON in CI, else plain, live on a terminal), json or plain"


def shipyard_task(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Task[Any]]:
    """``@invoke.task`` whose ``ShipyardError`` s exit cleanly (message, exit code, no traceback).

    Every task also takes ``--log-format`` (auto, json, plain), which wins over ``SHIPYARD_LOG_FORMAT``.
    """

    def decorate(body: Callable[..., Any]) -> Task[Any]:
        @functools.wraps(body)
        def run(c: Any, *a: Any, log_format: str = "", **kw: Any) -> Any:
            try:
                with handle_errors("invoke"):
                    if log_format:
                        from shipyard._logging import set_format

                        set_format(log_format)
                    return body(c, *a, **kw)
            except Exit as exc:
                raise InvokeExit(code=int(exc.code or 1)) from None

        signature = inspect.signature(body)
        extra = inspect.Parameter("log_format", inspect.Parameter.KEYWORD_ONLY, default="", annotation=str)
        run.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])  # type: ignore[attr-defined]
        kwargs["help"] = {**kwargs.get("help", {}), "log_format": _LOG_FORMAT_HELP}
        made: Task[Any] = task(*args, **kwargs)(run)
        return made

    return decorate
