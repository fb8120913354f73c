"""What the noxfile says CI must run: the default sessions from ``nox -l --json``.

nox lists exactly the sessions a bare ``nox`` would run (``nox.options.sessions`` or every ``default=True``
session), one entry per parametrization: ``{"session": "tests-3.11", "name": "tests", "python": "3.11", ...}``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipyard import _command
from shipyard._errors import ConfigError

__all__ = ["LIST_ALL_PYTHONS", "NoxSession", "Runner", "list_sessions", "parse_listing"]

#: Set while listing so that ``shipyard.nox.python_versions`` reports every supported Python, not only the ones
#: installed here: the workflow must not depend on which interpreters the machine that generated it has.
LIST_ALL_PYTHONS = "SHIPYARD_LIST_ALL_PYTHONS"


class Runner(Protocol):
    """The subprocess seam (``shipyard._command.run`` by default)."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = ...,
        env: Mapping[str, str] | None = ...,
        inherit_env: bool = ...,
    ) -> _command.Result: ...


@dataclass(frozen=True)
class NoxSession:
    """One runnable session: ``session`` is what ``nox -s`` takes, ``name`` the function's session name."""

    session: str
    name: str
    python: str | None = None
    description: str = ""


def parse_listing(output: str, *, source: str = "nox -l --json") -> list[NoxSession]:
    """Parse ``nox -l --json`` output; log lines around the JSON (warnings on stderr) are ignored."""
    for line in reversed(output.splitlines()):
        if line.startswith("["):
            try:
                entries = json.loads(line)
            except ValueError:
                continue
            return [_entry(item, source) for item in entries]
    tail = output.strip().splitlines()[-1:] or ["no output"]
    raise ConfigError(f"no JSON session list in the output ({tail[0]}); check that nox can load it", file=source)


def _entry(item: object, source: str) -> NoxSession:
    if not isinstance(item, dict) or not isinstance(item.get("session"), str) or not isinstance(item.get("name"), str):
        raise ConfigError(f"unexpected entry in nox's JSON listing: {item!r}; upgrade nox", file=source)
    python = item.get("python")
    return NoxSession(
        session=item["session"],
        name=item["name"],
        # nox reports python=False/None for sessions without a choice of interpreter.
        python=python if isinstance(python, str) else None,
        description=str(item.get("description") or ""),
    )


def list_sessions(
    root: Path, noxfile: str = "noxfile.py", *, run: Runner = _command.run, select: Sequence[str] = ()
) -> list[NoxSession]:
    """The default sessions of ``root/noxfile`` (or the ``select`` ed ones), from ``nox -l --json``."""
    path = root / noxfile
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; set [tool.shipyard.ci] noxfile or add one")
    # NOXSESSION and friends would change which sessions nox selects; the listing must be the defaults.
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOX")}
    env[LIST_ALL_PYTHONS] = "1"
    argv = [sys.executable, "-m", "nox", "--noxfile", str(path), "--list-sessions", "--json"]
    if select:
        argv += ["--sessions", *select]
    result = run(argv, cwd=root, env=env, inherit_env=False)
    return parse_listing(result.output, source=str(path))
