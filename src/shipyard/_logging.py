"""Structured logging: the library logs through structlog; the CLI decides how it is rendered.

In CI or off a terminal every event is a JSON line on stderr; on a terminal, a readable console line. Secrets
are scrubbed from every event before any renderer sees it, and from the rendered line after.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from shipyard._secrets import redact, redact_fields

__all__ = ["configure", "get_logger", "in_ci", "redact_event"]


def in_ci() -> bool:
    """True under CI (``CI`` set to anything but empty/false/0), where output must be machine-readable."""
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


def redact_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: scrub registered secrets from every value, nested ones included, field by field.

    Identifier fields (``image``, ``digest``, ``reference``...) are kept as they are (``redact_fields``).
    """
    raw = {key: event[key] for key in _RENDERER_KEYS if key in event}
    return {**redact_fields({key: _scrub(v) for key, v in event.items() if key not in raw}), **raw}


#: Left for the renderer to format (a traceback); the rendered line is scrubbed by ``_redact_rendered``.
_RENDERER_KEYS = ("exc_info", "stack_info")


def _scrub(value: Any) -> Any:
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def _redact_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    """Last processor: scrub the rendered line again, and (under GitHub Actions) make it no workflow command."""
    from shipyard._workflow_commands import safe

    return safe(redact(rendered)) if isinstance(rendered, str) else rendered


def configure(*, json: bool | None = None, level: str = "info", stream: TextIO | None = None) -> None:
    """Set up structlog for a CLI run. ``json=None`` picks JSON in CI or when stderr is not a terminal."""
    out = stream or sys.stderr
    use_json = (in_ci() or not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_event,
            renderer,
            _redact_rendered,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``component=name``."""
    return structlog.get_logger().bind(component=name)
