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
from shipyard.testing._projects import Project, make_project

RUNS = 7

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


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        project = make_project(
            Path(tmp) / "proj", groups={"lint": ["ruff"]}, sessions={"lint": (["lint"], ["ruff", "check", "pkg"])}
        )
        (project.root / "pkg").mkdir()
        for i in range(20):
            (project.root / "pkg" / f"mod{i}.py").write_text(f'"""Module {i}."""\n\nVALUE = {i}\n')
        project.lock()
        (project.root / "noxfile_uv.py").write_text(PLAIN_UV)
        (project.root / "noxfile_pip.py").write_text(PLAIN_PIP)
        ruff = project.root / ".nox-shipyard" / "lint" / "bin" / "ruff"

        # Warm everything once (venvs exist, caches are hot).
        nox(project, "noxfile.py", ".nox-shipyard", "-s", "lint")
        nox(project, "noxfile_uv.py", ".nox-uv", "-r", "-s", "lint")
        nox(project, "noxfile_pip.py", ".nox-pip", "-r", "-s", "lint")

        raw = median_time(lambda: _command.run([str(ruff), "check", "pkg"], cwd=project.root))
        nox_floor = median_time(lambda: _command.run([sys.executable, "-m", "nox", "--version"]))
        warm = median_time(lambda: nox(project, "noxfile.py", ".nox-shipyard", "-s", "lint"))
        plain_uv = median_time(lambda: nox(project, "noxfile_uv.py", ".nox-uv", "-r", "-s", "lint"))
        plain_pip = median_time(lambda: nox(project, "noxfile_pip.py", ".nox-pip", "-r", "-s", "lint"))

        def cold_shipyard() -> None:
            shutil.rmtree(project.root / ".nox-cold", ignore_errors=True)
            nox(project, "noxfile.py", ".nox-cold", "-s", "lint")

        def cold_raw() -> None:
            venv = project.root / ".raw-venv"
            shutil.rmtree(venv, ignore_errors=True)
            env = {**project.env(), "UV_PROJECT_ENVIRONMENT": str(venv)}
            _command.run(["uv", "venv", "--quiet", str(venv)], cwd=project.root, env=env, inherit_env=False)
            _command.run(
                ["uv", "sync", "--quiet", "--locked", "--only-group", "lint"],
                cwd=project.root,
                env=env,
                inherit_env=False,
            )
            _command.run([str(venv / "bin" / "ruff"), "check", "pkg"], cwd=project.root)

        cold = median_time(cold_shipyard, runs=5)
        raw_cold = median_time(cold_raw, runs=5)

    overhead = warm - raw
    rows = [
        ("raw `ruff check pkg`", raw, ""),
        ("`nox --version` (nox's own start-up)", nox_floor, ""),
        ("shipyard `nox -s lint` (warm)", warm, f"overhead {overhead:.3f} s (goal <= 0.25 s)"),
        ("  of which beyond nox's start-up", warm - raw - nox_floor, ""),
        ("plain nox -r + `uv sync --locked`", plain_uv, f"shipyard = {warm / plain_uv:.2f}x (goal <= 0.5x)"),
        ("plain nox -r, virtualenv + pip", plain_pip, f"shipyard = {warm / plain_pip:.2f}x"),
        ("shipyard `nox -s lint` (cold, warm uv cache)", cold, f"= {cold / raw_cold:.2f}x raw (goal <= 1.2x)"),
        ("raw `uv venv` + `uv sync --locked` + ruff", raw_cold, ""),
    ]
    print(f"{'case':<48} {'median s':>9}  note")
    for name, seconds, note in rows:
        print(f"{name:<48} {seconds:>9.3f}  {note}")
    met = overhead <= 0.25 and warm / plain_uv <= 0.5 and cold / raw_cold <= 1.2
    print(f"goals met: {'yes' if met else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
