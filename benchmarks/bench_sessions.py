"""Lockfile-bound sessions against plain nox, side by side in one run, on a fixture project.

Measures (medians of several runs, wall time):
- warm ``nox -s lint`` under Shipyard minus the raw ``ruff check`` it runs: the session overhead (goal <= 0.25 s);
- the same session under plain nox with ``-r`` and a ``uv sync --locked`` install step, and under nox's default
  virtualenv backend with ``session.install`` (pip) and ``-r``: Shipyard's warm run as a ratio of each
  (goal <= 0.5x the ``-r`` + uv sync one);
- a cold session (no venv, warm uv cache) against raw ``uv venv`` + ``uv sync --locked`` + ``ruff check``
  (goal <= 1.2x).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from shipyard import _command
from shipyard.nox import uv_binary
from shipyard.testing._projects import Project, make_project

RUNS = 7
UV = uv_binary()  # the locked uv, as nox and the sessions use it

PLAIN_UV = """
import nox

@nox.session(venv_backend="uv")
def lint(session):
    session.run_install(
        "uv", "sync", "--locked", "--only-group", "lint", "--python", session.virtualenv.bin + "/python",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}, external=True, silent=True,
    )
    session.run("ruff", "check", "pkg")
"""

PLAIN_PIP = """
import nox

@nox.session(venv_backend="virtualenv")
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "pkg")
"""


def median_time(action: Callable[[], object], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def nox(project: Project, noxfile: str, envdir: str, *args: str) -> None:
    argv = [sys.executable, "-m", "nox", "--noxfile", str(project.root / noxfile), "--envdir", envdir, *args]
    _command.run(argv, cwd=project.root, env=project.env(), inherit_env=False)


ENVIRONMENTS = {
    # a one-tool session, like `lint`
    "ruff only": ["ruff"],
    # the research's "small project" (requests, rich, pytest, mypy: about 20 packages), like a `tests` session
    "requests, rich, pytest, mypy": ["ruff", "requests", "rich", "pytest", "mypy"],
}


def measure(root: Path, requirements: list[str]) -> dict[str, float]:
    """Every case for one environment, side by side. Seconds (medians)."""
    project = make_project(root, groups={"lint": requirements}, sessions={"lint": (["lint"], ["ruff", "check", "pkg"])})
    (project.root / "pkg").mkdir()
    for i in range(20):
        (project.root / "pkg" / f"mod{i}.py").write_text(f'"""Module {i}."""\n\nVALUE = {i}\n')
    project.lock()
    (project.root / "noxfile_uv.py").write_text(PLAIN_UV)
    (project.root / "noxfile_pip.py").write_text(
        PLAIN_PIP.replace('session.install("ruff")', f"session.install({', '.join(map(repr, requirements))})")
    )
    ruff = project.root / ".nox-shipyard" / "lint" / "bin" / "ruff"

    # Warm everything once (venvs exist, caches are hot).
    nox(project, "noxfile.py", ".nox-shipyard", "-s", "lint")
    nox(project, "noxfile_uv.py", ".nox-uv", "-r", "-s", "lint")
    nox(project, "noxfile_pip.py", ".nox-pip", "-r", "-s", "lint")

    def cold_shipyard() -> None:
        shutil.rmtree(project.root / ".nox-cold", ignore_errors=True)
        nox(project, "noxfile.py", ".nox-cold", "-s", "lint")

    def cold_raw() -> None:
        venv = project.root / ".raw-venv"
        shutil.rmtree(venv, ignore_errors=True)
        env = {**project.env(), "UV_PROJECT_ENVIRONMENT": str(venv)}
        _command.run([UV, "venv", "--quiet", str(venv)], cwd=project.root, env=env, inherit_env=False)
        argv = [UV, "sync", "--quiet", "--locked", "--only-group", "lint"]
        _command.run(argv, cwd=project.root, env=env, inherit_env=False)
        _command.run([str(venv / "bin" / "ruff"), "check", "pkg"], cwd=project.root)

    return {
        "raw": median_time(lambda: _command.run([str(ruff), "check", "pkg"], cwd=project.root)),
        "nox": median_time(lambda: _command.run([sys.executable, "-m", "nox", "--version"])),
        "warm": median_time(lambda: nox(project, "noxfile.py", ".nox-shipyard", "-s", "lint")),
        "plain_uv": median_time(lambda: nox(project, "noxfile_uv.py", ".nox-uv", "-r", "-s", "lint")),
        "plain_pip": median_time(lambda: nox(project, "noxfile_pip.py", ".nox-pip", "-r", "-s", "lint")),
        "cold": median_time(cold_shipyard, runs=5),
        "raw_cold": median_time(cold_raw, runs=5),
    }


def main(argv: list[str]) -> int:
    print(f"medians of {RUNS} runs (5 for cold cases); 'beyond nox' = minus `nox --version`, nox's own start-up")
    for label, requirements in ENVIRONMENTS.items():
        with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
            m = measure(Path(tmp) / "proj", requirements)
        overhead = m["warm"] - m["raw"]
        beyond = {key: m[key] - m["nox"] for key in ("warm", "plain_uv", "cold")}
        rows = [
            ("raw `ruff check pkg`", m["raw"], ""),
            ("`nox --version` (nox's own start-up)", m["nox"], ""),
            ("shipyard `nox -s lint` (warm)", m["warm"], f"overhead {overhead:.3f} s (goal <= 0.25 s)"),
            (
                "plain nox -r + `uv sync --locked`",
                m["plain_uv"],
                f"shipyard = {m['warm'] / m['plain_uv']:.2f}x (goal <= 0.5x)",
            ),
            ("  beyond nox: shipyard vs -r + uv sync", beyond["warm"], f"vs {beyond['plain_uv']:.3f} s"),
            ("plain nox -r, virtualenv + pip", m["plain_pip"], f"shipyard = {m['warm'] / m['plain_pip']:.2f}x"),
            (
                "shipyard cold session (warm uv cache)",
                m["cold"],
                f"= {m['cold'] / m['raw_cold']:.2f}x raw (goal <= 1.2x)",
            ),
            ("  beyond nox: cold session vs raw", beyond["cold"], f"= {beyond['cold'] / m['raw_cold']:.2f}x raw"),
            ("raw `uv venv` + `uv sync --locked` + ruff", m["raw_cold"], ""),
        ]
        print(f"\nenvironment: {label}")
        print(f"{'case':<46} {'median s':>9}  note")
        for name, seconds, note in rows:
            print(f"{name:<46} {seconds:>9.3f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
