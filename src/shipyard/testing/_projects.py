"""Small uv projects in a temporary directory, with a noxfile of lockfile-bound sessions.

Used by Shipyard's own integration tests and benchmarks, and by anyone testing a noxfile built on
``shipyard.nox``: ``make_project(tmp_path, groups={"lint": ["ruff"]})`` then ``project.lock()`` and
``project.nox("-s", "lint")``.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from shipyard import _command
from shipyard._command import Result

__all__ = ["Project", "make_project"]

_SESSION = '''
@shipyard.nox.session(groups={groups!r}, install_project={install_project!r})
def {name}(session: nox.Session) -> None:
    """{name} session of a fixture project."""
    session.run(*{command!r})
'''


@dataclass(frozen=True)
class Project:
    """A fixture project: its directory, and how to run uv and nox in it."""

    root: Path

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    def env(self) -> dict[str, str]:
        # A clean uv/nox environment: nothing from an outer session's venv or project may leak in.
        drop = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "NOX_CURRENT_SESSION", "UV_FROZEN", "UV_LOCKED"}
        return {k: v for k, v in os.environ.items() if k not in drop}

    def lock(self) -> Result:
        return _command.run(["uv", "lock", "--quiet"], cwd=self.root, env=self.env(), inherit_env=False)

    def nox(self, *args: str, check: bool = False) -> Result:
        """Run real nox (the interpreter running this code) on the project's noxfile."""
        argv = [sys.executable, "-m", "nox", "--noxfile", str(self.root / "noxfile.py"), *args]
        return _command.run(argv, cwd=self.root, env=self.env(), inherit_env=False, check=check)

    def venv(self, session: str) -> Path:
        return self.root / ".nox" / session

    def set_group(self, group: str, requirements: list[str]) -> None:
        """Rewrite one dependency group in pyproject.toml (the way `uv add --group` would)."""
        text = self.pyproject.read_text()
        start = text.index(f"{group} = [")
        end = text.index("]", start) + 1
        self.pyproject.write_text(text[:start] + f"{group} = {json.dumps(requirements)}" + text[end:])


def make_project(
    directory: Path,
    *,
    groups: dict[str, list[str]],
    sessions: dict[str, tuple[list[str], list[str]]],
    install_project: bool = False,
    requires_python: str = ">=3.11",
    classifiers: tuple[str, ...] = (),
) -> Project:
    """Write a project with ``groups`` and ``sessions`` (name -> (groups, command argv)). Not locked yet."""
    directory.mkdir(parents=True, exist_ok=True)
    group_lines = "\n".join(f"{name} = {json.dumps(reqs)}" for name, reqs in groups.items())
    (directory / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "fixture-project"
            version = "0.1.0"
            requires-python = "{requires_python}"
            dependencies = []
            classifiers = {json.dumps(list(classifiers))}

            [dependency-groups]
            """
        )
        + group_lines
        + "\n\n[tool.uv]\npackage = false\n\n[tool.ruff]\nline-length = 100\n"
    )
    src = Path(__file__).resolve().parents[2]
    body = "".join(
        _SESSION.format(name=name, groups=session_groups, install_project=install_project, command=command)
        for name, (session_groups, command) in sessions.items()
    )
    (directory / "noxfile.py").write_text(
        f"import sys\nsys.path.insert(0, {str(src)!r})\n\nimport nox\n\nimport shipyard.nox\n{body}"
    )
    return Project(directory)
