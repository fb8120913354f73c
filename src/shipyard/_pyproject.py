"""Reading pyproject.toml: the project root, its tables, and validation of ``[tool.shipyard]`` sections.

Validation errors name the file and the dotted key and say how to fix it, in one line.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shipyard._errors import ConfigError

__all__ = ["Field", "find_root", "load", "table_at", "validate_table", "workspace_pyprojects"]

PYPROJECT = "pyproject.toml"


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds a pyproject.toml with a uv workspace or project."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PYPROJECT).is_file():
            data = load(candidate / PYPROJECT)
            if (
                table_at(data, "tool.uv.workspace", file=str(candidate / PYPROJECT), default=False) is not False
                or candidate == here
            ):
                return candidate
    for candidate in (here, *here.parents):
        if (candidate / PYPROJECT).is_file():
            return candidate
    raise ConfigError(f"no {PYPROJECT} found in {here} or its parents; run from inside a project")


def load(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a one-line ``ConfigError``."""
    return dict(_load(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0))


@cache
def _load(path: Path, _mtime: int) -> Mapping[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML ({exc}); fix the syntax", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8", file=str(path)
        ) from exc


def table_at(data: Mapping[str, Any], dotted: str, *, file: str, default: object = None) -> object:
    """``data``'s value at ``dotted`` (``tool.shipyard.images``), ``default`` (``{}``) when absent.

    A level above it that is not a table (``[tool] shipyard = [1]``) is a one-line ``ConfigError`` naming it;
    the value itself is returned unchecked.
    """
    node: Mapping[str, Any] = data
    *parents, last = dotted.split(".")
    for depth, part in enumerate(parents):
        child = node.get(part, {})
        if not isinstance(child, Mapping):
            key = ".".join(parents[: depth + 1])
            raise ConfigError(f"must be a table, got {type(child).__name__}", file=file, key=key)
        node = child
    return node.get(last, {} if default is None else default)


@dataclass(frozen=True)
class Field:
    """One allowed key of a config table: its type(s), whether it is required, and a default."""

    types: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    help: str = ""


def validate_table(table: object, fields: Mapping[str, Field], *, file: str, key: str) -> dict[str, Any]:
    """Check ``table`` against ``fields``: unknown keys, missing required keys and wrong types are errors.

    Returns the table with defaults filled in. ``key`` is the dotted path of the table, used in messages.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"must be a table, got {type(table).__name__}", file=file, key=key)
    unknown = sorted(set(table) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise ConfigError(
            f"unknown key {unknown[0]!r}; allowed keys are: {allowed}", file=file, key=f"{key}.{unknown[0]}"
        )
    result: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in table:
            if spec.required:
                hint = f" ({spec.help})" if spec.help else ""
                raise ConfigError(f"missing required key{hint}; add it", file=file, key=f"{key}.{name}")
            result[name] = spec.default
            continue
        value = table[name]
        if not isinstance(value, spec.types) or (isinstance(value, bool) and bool not in _as_tuple(spec.types)):
            expected = " or ".join(t.__name__ for t in _as_tuple(spec.types))
            raise ConfigError(
                f"must be {expected}, got {type(value).__name__} {value!r}", file=file, key=f"{key}.{name}"
            )
        result[name] = value
    return result


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def workspace_pyprojects(root: Path) -> list[Path]:
    """The root pyproject.toml and those of its uv workspace members (globs expanded, excludes applied)."""
    data = load(root / PYPROJECT)
    workspace = table_at(data, "tool.uv.workspace", file=str(root / PYPROJECT))
    if not isinstance(workspace, Mapping):
        raise ConfigError("must be a table", file=str(root / PYPROJECT), key="tool.uv.workspace")
    excluded = {p.resolve() for pattern in workspace.get("exclude", []) for p in root.glob(pattern)}
    members = sorted(
        p / PYPROJECT
        for pattern in workspace.get("members", [])
        for p in root.glob(pattern)
        if p.resolve() not in excluded and (p / PYPROJECT).is_file()
    )
    return [root / PYPROJECT, *members]
