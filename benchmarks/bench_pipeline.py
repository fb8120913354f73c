"""Pipeline engine benchmarks, measured side by side in one run (medians of several runs).

- ``invoke check`` with nothing changed (every stage a cache hit) on a small fixture project: goal <= 0.3 s.
- ``invoke check`` with nothing changed on this repository's tree (a local clone whose noxfile's sessions, same
  names, are stand-ins that pass at once, so the cache can be warmed without running the real suite): goal at
  most 0.25 s more than ``python -c "import invoke"``, printed beside it and ``invoke --list``; also as CPU seconds
  (user + system), which a machine shared with other work distorts far less than wall time.
- ``invoke check --no-cache`` (cold, parallel) vs the same nox sessions run one after another: goal <= 0.7x.
- ``python -X importtime -c "import shipyard"`` (cumulative import of shipyard): goal <= 50 ms.
- ``invoke --list`` in this repository: goal <= 0.25 s.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {**os.environ, "CI": "true"}
for _name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "PYTHONDONTWRITEBYTECODE"):
    ENV.pop(_name, None)
# Measure with bytecode caches, as a user has them (without, every start recompiles every module), kept out of the
# source tree.
ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "shipyard-bench-pycache")


def _timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _cpu(argv: list[str], cwd: Path) -> float:
    """CPU seconds (user + system) the command used: far less sensitive to a loaded machine than wall time."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _median(measure: Callable[[], float], runs: int) -> float:
    return statistics.median(measure() for _ in range(runs))


def _import_ms() -> float:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import shipyard"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    # "import time: self [us] | cumulative | imported package" -> the cumulative time of the top-level package
    for line in out.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s?shipyard$", line)
        if match:
            return int(match.group(1)) / 1000
    raise RuntimeError("no importtime line for shipyard")


_STAND_IN = """import pathlib

import nox

NAMES = {names!r}


def _make(name):
    def body(session):
        if name == "build":
            pathlib.Path("dist").mkdir(exist_ok=True)
            pathlib.Path("dist/stand-in.whl").write_text("whl")

    body.__name__ = name
    return nox.session(name=name, venv_backend="none")(body)


for _name in NAMES:
    _make(_name)
"""


def _repository_check(tmp: Path, runs: int) -> list[tuple[str, float, str, str]]:
    """Warm ``invoke check`` on a clone of this repository (its tracked files plus this checkout's changes)."""
    names = json.loads(
        subprocess.run(
            [sys.executable, "-m", "nox", "-l", "--json"], cwd=REPO, env=ENV, capture_output=True, text=True, check=True
        ).stdout
    )
    clone = tmp / "repo"
    subprocess.run(["git", "clone", "--quiet", "--local", str(REPO), str(clone)], check=True, env=ENV)
    (clone / "noxfile.py").write_text(_STAND_IN.format(names=list(dict.fromkeys(n["name"] for n in names))))
    invoke = str(BIN / "invoke")
    _timed([invoke, "check"], clone)  # warm: every stage passes once and is stored
    _timed([invoke, "check"], clone)
    _timed([invoke, "--list"], REPO)
    # Interleaved, so the three see the same machine load.
    warm_runs, import_runs, list_runs = [], [], []
    for _ in range(runs):
        warm_runs.append(_timed([invoke, "check"], clone))
        import_runs.append(_timed([sys.executable, "-c", "import invoke"], REPO))
        list_runs.append(_timed([invoke, "--list"], REPO))
    warm, import_invoke, listing = (statistics.median(r) for r in (warm_runs, import_runs, list_runs))
    cpu_check, cpu_import = [], []
    for _ in range(runs):
        cpu_check.append(_cpu([invoke, "check"], clone))
        cpu_import.append(_cpu([sys.executable, "-c", "import invoke"], REPO))
    cpu_over = statistics.median(cpu_check) - statistics.median(cpu_import)
    files = len(
        subprocess.run(["git", "ls-files"], cwd=clone, capture_output=True, text=True, check=True).stdout.split()
    )
    over = warm - import_invoke
    return [
        (f"invoke check, this repo ({files} files), warm", warm, "", ""),
        ('python -c "import invoke"', import_invoke, "", ""),
        ("invoke --list (this repo)", listing, "", ""),
        ("  check minus import invoke", over, "<= 0.250 s", "ok" if over <= 0.25 else "MISSED"),
        ("  same, CPU seconds (user+sys)", cpu_over, "<= 0.250 s", "ok" if cpu_over <= 0.25 else "MISSED"),
    ]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO / "src"))
    from shipyard.testing import make_check_project

    runs = int(argv[0]) if argv else 5
    invoke = str(BIN / "invoke")
    rows: list[tuple[str, float, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        root = make_check_project(Path(tmp) / "proj", sleep=0.5)
        _timed([invoke, "check"], root)  # warm the cache
        warm = _median(lambda: _timed([invoke, "check"], root), runs)
        rows.append(("invoke check, nothing changed", warm, "<= 0.300 s", "ok" if warm <= 0.3 else "MISSED"))

        cold = _median(lambda: _timed([invoke, "check", "--no-cache"], root), max(3, runs // 2))

        def sequential() -> float:
            return sum(
                _timed([sys.executable, "-m", "nox", "-s", s], root) for s in ("lint", "typecheck", "tests", "build")
            )

        serial = _median(sequential, max(3, runs // 2))
        ratio = cold / serial
        rows.append(("invoke check --no-cache (cold)", cold, "", ""))
        rows.append(("nox sessions one after another", serial, "", ""))
        rows.append(("  ratio cold / sequential", ratio, "<= 0.70x", "ok" if ratio <= 0.7 else "MISSED"))

        repo_rows = _repository_check(Path(tmp), runs)

    imports = statistics.median(_import_ms() for _ in range(runs))
    rows.append(("import shipyard (ms, -X importtime)", imports, "<= 50 ms", "ok" if imports <= 50 else "MISSED"))
    listing = _median(lambda: _timed([invoke, "--list"], REPO), runs)
    rows.append(("invoke --list (this repo)", listing, "<= 0.250 s", "ok" if listing <= 0.25 else "MISSED"))

    rows += repo_rows
    print(f"{'measurement':<40} {'value':>10}  {'goal':<12} result")
    for name, value, goal, verdict in rows:
        print(f"{name:<40} {value:>10.3f}  {goal:<12} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
