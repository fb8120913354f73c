"""Write pins into ``[tool.shipyard.ci.pins]`` of pyproject.toml, touching only their lines.

No TOML library round-trips comments and layout, so the table is edited as text: an action's line is replaced
where it is, or added at the end of the table (the table at the end of the file when there is none). The result
is parsed back and must read as intended before it replaces the file; otherwise nothing is written.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from shipyard._errors import ConfigError
from shipyard.ci._pins import Pin

__all__ = ["write_pins"]

_HEADER = re.compile(r"^\s*\[\s*tool\s*\.\s*shipyard\s*\.\s*ci\s*\.\s*pins\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def _line(pin: Pin, comment: str = "") -> str:
    return f'"{pin.action}" = {{ version = "{pin.version}", sha = "{pin.sha}" }}{comment}\n'


def _trailing_comment(line: str) -> str:
    """The ``  # why`` after an inline-table pin line (kept when the pin moves); "" when there is none."""
    match = re.search(r"\}(\s*#.*?)\r?\n?$", line)
    return match.group(1) if match else ""


def _key_of(line: str) -> str | None:
    match = re.match(r"""^\s*(?:"([^"]+)"|'([^']+)')\s*=""", line)
    return (match.group(1) or match.group(2)) if match else None


def _body_end(lines: list[str], start: int, end: int) -> int:
    """Where the table's own lines end: a comment block glued to the next header, after a blank line, is that
    header's (``# deploy settings`` above ``[tool.shipyard.deploy]``), so new pins go above it."""
    if end == len(lines):
        return end
    top = end
    while top - 1 > start and lines[top - 1].lstrip().startswith("#"):
        top -= 1
    return top if top < end and not lines[top - 1].strip() else end


def write_pins(path: Path, pins: Iterable[Pin]) -> None:
    """Set each pin's line in ``path``; raises ``ConfigError`` (and writes nothing) if the file cannot take it."""
    pins = list(pins)
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if start is None:
        lines += ["\n", "[tool.shipyard.ci.pins]\n"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    for pin in pins:
        at = next((i for i in range(start + 1, end) if _key_of(lines[i]) == pin.action), None)
        if at is not None:
            lines[at] = _line(pin, _trailing_comment(lines[at]))
            continue
        last = max((i for i in range(start, _body_end(lines, start, end)) if lines[i].strip()), default=start)
        lines.insert(last + 1, _line(pin))
        end += 1
    new = "".join(lines)
    try:
        table = tomllib.loads(new).get("tool", {}).get("shipyard", {}).get("ci", {}).get("pins", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"could not add the pins without breaking the file ({exc}); add them to [tool.shipyard.ci.pins] by hand",
            file=str(path),
        ) from exc
    for pin in pins:
        if table.get(pin.action) != {"version": pin.version, "sha": pin.sha}:
            raise ConfigError(
                f"could not write the pin for {pin.action} (is [tool.shipyard.ci.pins] written in another form?); "
                f'set "{pin.action}" = {{ version = "{pin.version}", sha = "{pin.sha}" }} by hand',
                file=str(path),
            )
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new)
    tmp.replace(path)
