"""Structured logging: the library logs through structlog; the CLI decides how it is rendered.

Three renderings of the same events, chosen by ``output_mode``: JSON lines under CI or when asked for
(``--log-format json`` or ``SHIPYARD_LOG_FORMAT=json``); otherwise plain readable lines, which on a terminal
(not ``TERM=dumb``) come with the live view and colour (not with ``NO_COLOR``). Every line goes through
``shipyard._output.SINK``, so a running live view prints it above its table. Secrets are scrubbed from every
event before any renderer sees it, and from the rendered line after.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO, cast

import structlog

from shipyard import _output
from shipyard._secrets import redact, redact_fields

__all__ = [
    "FORMATS",
    "configure",
    "get_logger",
    "in_ci",
    "json_requested",
    "output_mode",
    "redact_event",
    "set_format",
    "use_color",
]

#: ``--log-format`` / ``SHIPYARD_LOG_FORMAT`` values: ``auto`` picks JSON in CI, else plain (live on a terminal).
FORMATS = ("auto", "json", "plain")
Mode = Literal["json", "plain", "live"]
_requested: dict[str, str] = {}


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


def set_format(fmt: str) -> None:
    """The ``--log-format`` a command line asked for; it wins over ``SHIPYARD_LOG_FORMAT``."""
    _requested["format"] = _checked(fmt, "--log-format")


def _checked(fmt: str, where: str) -> str:
    value = fmt.strip().lower() or "auto"
    if value not in FORMATS:
        from shipyard._errors import ConfigError

        raise ConfigError(f"unknown log format {fmt!r}; use one of {', '.join(FORMATS)}", key=where)
    return value


def _is_terminal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and environ.get("TERM", "") not in {"dumb", "unknown"}


def output_mode(
    stream: TextIO | None = None, *, environ: Mapping[str, str] | None = None, fmt: str | None = None
) -> Mode:
    """``json``, ``plain`` or ``live`` for output on ``stream`` (stderr): see the module docstring."""
    environ = os.environ if environ is None else environ
    chosen = _checked(fmt, "--log-format") if fmt is not None else _requested.get("format")
    if chosen is None:
        chosen = _checked(environ.get("SHIPYARD_LOG_FORMAT", ""), "SHIPYARD_LOG_FORMAT")
    if chosen == "json":
        return "json"
    if chosen == "auto" and in_ci():
        return "json"
    if chosen == "auto" and _is_terminal(stream or sys.stderr, environ):
        return "live"
    return "plain"


def json_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when JSON was asked for (``--log-format json`` or ``SHIPYARD_LOG_FORMAT=json``), not just chosen by CI;
    a bad value is not a request (its own error says so)."""
    environ = os.environ if environ is None else environ
    try:
        chosen = _requested.get("format") or _checked(environ.get("SHIPYARD_LOG_FORMAT", ""), "SHIPYARD_LOG_FORMAT")
    except Exception:  # noqa: BLE001 - ConfigError; this is asked while another error is being reported
        return False
    return chosen == "json"


def use_color(stream: TextIO | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a real terminal, and never with ``NO_COLOR`` set (https://no-color.org)."""
    environ = os.environ if environ is None else environ
    return _is_terminal(stream or sys.stderr, environ) and not environ.get("NO_COLOR")


def configure(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None, fmt: str | None = None
) -> None:
    """Set up structlog for a CLI run: JSON or plain lines (see ``output_mode``), written through the sink."""
    out = stream or sys.stderr
    use_json = output_mode(out, fmt=fmt) == "json" if json is None else json
    renderer: Any = structlog.processors.JSONRenderer() if use_json else _output.PlainRenderer(colors=use_color(out))
    _output.SINK.stream = stream
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_event,
            _output.tap,
            renderer,
            _redact_rendered,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(cast("TextIO", _output.SINK)),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``component=name``."""
    # A lazy proxy: a module-level logger created before ``configure`` still renders the way it says.
    return structlog.get_logger(component=name)
