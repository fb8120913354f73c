"""Test helpers for pipelines: a reporter that records every event, and the text of every channel."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.pipeline import Graph, RunReport, StageResult

__all__ = ["RecordingReporter", "StageEvent", "make_check_project", "make_flat_project"]


@dataclass(frozen=True)
class StageEvent:
    """One event a reporter received: ``kind`` is started/output/finished; ``at`` is ``time.time()``."""

    kind: str
    stage: str
    at: float
    detail: str = ""


@dataclass
class RecordingReporter:
    """A ``Reporter`` that keeps every event, for assertions on order, overlap and output."""

    events: list[StageEvent] = field(default_factory=list)
    reports: list[RunReport] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _add(self, kind: str, stage: str, detail: str = "") -> None:
        with self._lock:
            self.events.append(StageEvent(kind, stage, time.time(), detail))

    def run_started(self, name: str, graph: Graph) -> None:
        self._add("run_started", name)

    def stage_started(self, result: StageResult) -> None:
        self._add("started", result.name)

    def stage_output(self, stage: str, line: str) -> None:
        self._add("output", stage, line)

    def stage_finished(self, result: StageResult) -> None:
        self._add("finished", result.name, result.state.value)

    def run_finished(self, report: RunReport) -> None:
        self.reports.append(report)
        self._add("run_finished", report.pipeline, report.result)

    def started(self) -> list[str]:
        """Stage names in the order they started."""
        return [e.stage for e in self.events if e.kind == "started"]

    def output(self, stage: str) -> list[str]:
        """The output lines ``stage`` emitted while running."""
        return [e.detail for e in self.events if e.kind == "output" and e.stage == stage]

    def text(self) -> str:
        """Everything this reporter saw, as one string (for leak checks)."""
        return "\n".join(f"{e.kind} {e.stage} {e.detail}" for e in self.events)


def make_check_project(root: Path, *, sleep: float = 0.0, failing: str | None = None) -> Path:
    """Write a tiny project for ``invoke check``: sessions lint, typecheck, tests, build (no venvs, fast).

    Each session sleeps ``sleep`` seconds of CPU-free time and prints its name; ``failing`` names a session
    that exits 1 after printing "FAILED <name>". ``build`` writes ``dist/app.whl``.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text("VALUE = 1\n")
    (root / "uv.lock").write_text("version = 1\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "fixture"\nversion = "0"\n\n'
        "[tool.shipyard.check]\n"
        'files = ["src/**/*.py", "noxfile.py", "pyproject.toml"]\n'
        "env = []\n"
    )
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    body = []
    for name in ("lint", "typecheck", "tests", "build"):
        code = f"import time; time.sleep({sleep}); print('session {name} ran')"
        if name == "build":
            code += "; import pathlib; d = pathlib.Path('dist'); d.mkdir(exist_ok=True)"
            code += "; (d / 'app.whl').write_text('whl')"
        if name == failing:
            code += f"; print('FAILED {name}'); raise SystemExit(1)"
        body.append(
            f"@nox.session(venv_backend='none')\ndef {name}(session):\n"
            f"    session.run(sys.executable, '-c', {code!r})\n"
        )
    (root / "noxfile.py").write_text("import sys\n\nimport nox\n\n\n" + "\n\n".join(body))
    return root


def make_flat_project(root: Path) -> Path:
    """Write and commit a flat-layout project (package ``app/`` at the top, no ``src/``) knowing nothing of Shipyard.

    Its noxfile defines ``lint`` (byte-compiles the package) and ``tests`` (pytest, run by the interpreter running
    nox) and nothing else; pyproject.toml has no ``[tool.shipyard]`` table. ``build/`` and ``*.log`` are ignored.
    """
    import subprocess

    root.mkdir(parents=True, exist_ok=True)
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_app.py").write_text("from app import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n")
    (root / "pyproject.toml").write_text('[project]\nname = "flat"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n')
    (root / "uv.lock").write_text("version = 1\n")
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    (root / "noxfile.py").write_text(
        "import sys\n\nimport nox\n\n\n"
        "@nox.session(venv_backend='none')\n"
        "def lint(session):\n"
        "    session.run(sys.executable, '-m', 'compileall', '-q', 'app')\n\n\n"
        "@nox.session(venv_backend='none')\n"
        "def tests(session):\n"
        "    session.run(sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests')\n"
    )
    git = ["git", "-c", "user.name=fixture", "-c", "user.email=fixture@example.invalid"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "flat project"]):
        subprocess.run([*git, *argv], cwd=root, check=True, capture_output=True)
    return root
