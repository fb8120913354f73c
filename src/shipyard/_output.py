"""Where log events go and how they read: one sink, the live view's console, plain lines, progress listeners.

Every structlog event is written through ``SINK``. While a live view runs, it registers its rich console with
``attached``; the sink then prints each line *through that console*, which rich draws above the live region,
so nothing written during a run breaks the table. Off a terminal the same events become plain lines
(``12:03:04 deploy   local    switched traffic``); JSON is chosen by ``shipyard._logging`` under CI or on request.

``progress`` carries high-frequency updates (push bytes) to listeners (the live view) without logging them.
rich is imported only when a console is attached, never at ``import shipyard``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, TextIO

from shipyard._secrets import redact

__all__ = ["SINK", "PlainRenderer", "attached", "clean", "describe", "listening", "progress", "subject_of"]

Listener = Callable[[Mapping[str, Any]], None]

_lock = threading.Lock()
_consoles: list[Any] = []
_listeners: list[Listener] = []


class _Sink:
    """A file-like target for structlog: the attached live console if any, else the configured stream."""

    def __init__(self) -> None:
        self.stream: TextIO | None = None

    def write(self, text: str) -> int:
        console = _consoles[-1] if _consoles else None
        if console is not None:
            from rich.text import Text

            console.print(Text.from_ansi(text.rstrip("\n")), soft_wrap=True)
        else:
            stream = self.stream or sys.stderr
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        if not _consoles:
            (self.stream or sys.stderr).flush()


SINK = _Sink()


@contextlib.contextmanager
def attached(console: Any) -> Iterator[None]:
    """Route every log line through ``console`` (a rich console with a live region) while the block runs."""
    with _lock:
        _consoles.append(console)
    try:
        yield
    finally:
        with _lock:
            _consoles.remove(console)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener`` with every (redacted) log event and progress update while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def _notify(event: Mapping[str, Any]) -> None:
    for listener in list(_listeners):
        listener(event)


def tap(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor (after redaction): hand a copy of each event to the listeners."""
    if _listeners:
        _notify(dict(event))
    return event


def progress(event: str, **fields: Any) -> None:
    """A progress update for the live view only (never logged); its fields are redacted first."""
    if not _listeners:
        return
    import structlog

    merged = {**structlog.contextvars.get_contextvars(), **fields, "event": event}
    _notify({key: redact(value) if isinstance(value, str) else value for key, value in merged.items()})


# ---------------------------------------------------------------- plain lines

# A tool's escape sequences (colour, cursor movement, window titles) and other control characters.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement, erasing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # C0 controls but tab and newline (a carriage return is below)
)


def clean(text: str) -> str:
    """``text`` as a file or a terminal can show it: no escape sequence or control character, and of a line
    rewritten with carriage returns (a tool's progress) only what a terminal would show last."""
    lines = []
    for line in text.split("\n"):
        shown = next((part for part in reversed(line.split("\r")) if part.strip()), "") if "\r" in line else line
        lines.append(_ESCAPES.sub("", shown))
    return "\n".join(lines)


_HIDDEN = {"event", "timestamp", "level", "component", "stage", "env", "_record", "_from_structlog"}


def _component(event: Mapping[str, Any]) -> str:
    name = str(event.get("component", ""))
    name = name.removeprefix("shipyard.")
    first = name.split(".", 1)[0]
    return {"images": "image"}.get(first, first)


def subject_of(event: Mapping[str, Any]) -> str:
    """What the event is about: its environment, else its stage, else its image."""
    return str(event.get("env") or event.get("stage") or event.get("image") or "")


def _mb(value: Any) -> str:
    return f"{(value or 0) / 1_000_000:.1f}"


_PHASES = {
    "starting": "starting {container}",
    "started": "container started",
    "release": "running the release command",
    "healthy": "healthy",
    "switched": "switched traffic (previous: {previous})",
    "baked": "baked",
    "drained": "drained the previous version",
    "rolled-back": "rolled back: {reason}",
}


_PHASE_FIELDS = {"phase", "deploy_id", "container", "previous", "reason"}


def _phase(e: Mapping[str, Any]) -> str:
    phase = str(e.get("phase", ""))
    template = _PHASES.get(phase, phase)
    try:
        text = template.format_map({"container": "", "previous": "none", "reason": "", **e})
    except (KeyError, ValueError, IndexError):
        text = phase
    # Details a phase carries beyond its sentence (a health check count, a revision) follow as key=value.
    extra = " ".join(f"{k}={v}" for k, v in e.items() if k not in _HIDDEN | _PHASE_FIELDS)
    return f"{text.replace('(previous: )', '(previous: none)').strip()} {extra}".strip()


def _stage_finished(e: Mapping[str, Any]) -> str:
    cache = " (cache hit)" if e.get("cache") == "hit" else ""
    summary = f"  {e['summary']}" if e.get("summary") else ""
    return f"{e.get('state')} in {e.get('duration_s', 0):.1f} s{cache}{summary}"


def _stage_failed(e: Mapping[str, Any]) -> str:
    output = str(e.get("output") or "").rstrip()
    body = "".join(f"\n    {line}" for line in output.splitlines()[-40:])
    return f"failed in {e.get('duration_s', 0):.1f} s: {e.get('error')}{body}"


def _run_finished(e: Mapping[str, Any]) -> str:
    path = " -> ".join(e.get("critical_path") or [])
    text = f"{e.get('pipeline')} {e.get('result')} in {e.get('duration_s', 0):.1f} s"
    text += f"; critical path {path}" if path else ""
    return text + (f"; report {e['report']}" if e.get("report") else "")


_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "deploy.phase": _phase,
    "deploy.start": lambda e: (
        f"deploying {e.get('image')} ({e.get('deploy_id')})" + (" [dry run]" if e.get("dry_run") else "")
    ),
    "deploy.end": lambda e: f"deploy {e.get('result')} in {e.get('duration', 0):.1f} s ({e.get('deploy_id')})",
    "docker.started": lambda e: f"started {e.get('container')}",
    "docker.swapped": lambda e: (
        f"switched to {e.get('container')}" + (f", retired {', '.join(e['retired'])}" if e.get("retired") else "")
    ),
    "rollback.plan": lambda e: f"rolling back {e.get('current')} -> {e.get('to')}",
    "image.build.start": lambda e: f"building {e.get('repository')} ({', '.join(e.get('tags') or [])})",
    "image.build.step": lambda e: (
        f"step {e.get('step')}/{e.get('total')} {e.get('text', '')}" + (" (cached)" if e.get("cached") else "")
    ),
    "image.build.done": lambda e: f"built {str(e.get('id', ''))[:19]} ({e.get('cached_steps', 0)} steps cached)",
    "image.push.progress": lambda e: (
        f"pushing {e.get('layers_done', 0)}/{e.get('layers', 0)} layers, "
        f"{_mb(e.get('bytes_done'))}/{_mb(e.get('bytes_total'))} MB"
    ),
    "image.push.done": lambda e: f"pushed {e.get('reference')}",
    "image.push.retry": lambda e: f"retrying the push: {e.get('reason')}",
    "run started": lambda e: f"run {e.get('pipeline')}: {', '.join(e.get('stages') or [])}",
    "stage started": lambda e: "started",
    "stage finished": _stage_finished,
    "stage failed": _stage_failed,
    "run finished": _run_finished,
}


def describe(event: Mapping[str, Any]) -> str:
    """The event in plain words: a known event's sentence, or its name and its fields as ``key=value``."""
    name = str(event.get("event", ""))
    known = _MESSAGES.get(name)
    if known is not None:
        try:
            return known(event)
        except (TypeError, ValueError, KeyError, AttributeError):
            pass  # an unexpected field type: fall back to the generic form
    fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in _HIDDEN)
    return f"{name} {fields}".strip()


def _clock(event: Mapping[str, Any]) -> str:
    stamp = event.get("timestamp")
    try:
        when = dt.datetime.fromisoformat(str(stamp)) if stamp else dt.datetime.now(dt.UTC)
    except ValueError:
        when = dt.datetime.now(dt.UTC)
    return when.astimezone().strftime("%H:%M:%S")


class PlainRenderer:
    """structlog renderer: ``HH:MM:SS component subject message``, ANSI-coloured only when ``colors``."""

    def __init__(self, *, colors: bool = False) -> None:
        self.colors = colors

    def _style(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colors and text else text

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
        level = str(event.get("level", "info"))
        message = clean(describe(event))
        if level in {"warning", "error", "critical"}:
            message = self._style("1;31" if level != "warning" else "33", f"{level}:") + " " + message
        head = clean(f"{_clock(event)} {_component(event):<8} {subject_of(event):<8}")
        return f"{self._style('2', head)} {message}".rstrip()
