"""GitHub Actions workflow commands: write our own, and make sure tool output can never issue one.

The runner (actions/runner ``ActionCommandManager``) reads every line of a step's stdout and stderr (split at
``\\r`` and ``\\n``) and executes it when it parses as a command, in either syntax:

- ``::name props::data`` after trimming leading whitespace (``ActionCommand.TryParseV2`` calls ``TrimStart``),
  so ``" ::add-mask::x"`` and ``"\\t::error::x"`` are commands too;
- ``##[name props]data`` anywhere in the line (the legacy ``ActionCommand.TryParse``), so a JSON log line
  ``{"line": "##[add-mask]x"}`` is one.

``neutralise`` inserts a zero-width space (U+200B, not whitespace to .NET's ``TrimStart`` or Python's
``strip``) so neither parser matches, and leaves every other line exactly as it was; ``untrusted`` also wraps a
block of tool output in ``::stop-commands::<random token>`` ... ``::<token>::`` so the runner ignores commands
inside it even if a form were missed.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping

__all__ = ["escape_data", "escape_property", "in_github_actions", "is_command", "neutralise", "safe", "untrusted"]

_ZWSP = "\u200b"
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a GitHub Actions job, where the runner parses our output for workflow commands."""
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def is_command(line: str) -> bool:
    """True if the runner would parse ``line`` (one line, no line break) as a workflow command."""
    return line.lstrip().startswith("::") or "##[" in line


def _neutralise_line(line: str) -> str:
    if not is_command(line):
        return line
    stripped = line.lstrip()
    if stripped.startswith("::"):
        line = line[: len(line) - len(stripped)] + ":" + _ZWSP + stripped[1:]
    return line.replace("##[", "#" + _ZWSP + "#[")


def neutralise(text: str) -> str:
    """``text`` with every line that would parse as a workflow command made inert; other lines unchanged."""
    if "::" not in text and "##[" not in text:
        return text
    parts = _LINE_BREAK.split(text)
    # Odd indexes are the line breaks themselves; even ones are the lines.
    return "".join(part if i % 2 else _neutralise_line(part) for i, part in enumerate(parts))


def safe(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``neutralise(text)`` inside GitHub Actions; ``text`` unchanged anywhere else."""
    return neutralise(text) if in_github_actions(environ) else text


def untrusted(lines: Iterable[str]) -> list[str]:
    """Tool output as lines to print: neutralised, between ``::stop-commands::<token>`` and ``::<token>::``."""
    token = secrets.token_hex(16)
    return [f"::stop-commands::{token}", *(neutralise(line) for line in lines), f"::{token}::"]


def escape_data(text: str) -> str:
    """Escape a command's data (after ``::``) the way the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value (``title=...``) the way the runner unescapes it."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
