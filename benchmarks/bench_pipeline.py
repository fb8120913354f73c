"""Pipeline engine benchmarks, measured side by side in one run (medians of several runs).

- ``invoke check`` with nothing changed (every stage a cache hit) on a small fixture project: goal <= 0.3 s.
- ``invoke check --no-cache`` (cold, parallel) vs the same nox sessions run one after another: goal <= 0.7x.
- ``python -X importtime -c "import shipyard"`` (cumulative import of shipyard): goal <= 50 ms.
- ``invoke --list`` in this repository: goal <= 0.25 s.
"""

from __future__ import annotations

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
for _name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
    ENV.pop(_name, None)


def _timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


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

    imports = statistics.median(_import_ms() for _ in range(runs))
    rows.append(("import shipyard (ms, -X importtime)", imports, "<= 50 ms", "ok" if imports <= 50 else "MISSED"))
    listing = _median(lambda: _timed([invoke, "--list"], REPO), runs)
    rows.append(("invoke --list (this repo)", listing, "<= 0.250 s", "ok" if listing <= 0.25 else "MISSED"))

    print(f"{'measurement':<40} {'value':>10}  {'goal':<12} result")
    for name, value, goal, verdict in rows:
        print(f"{name:<40} {value:>10.3f}  {goal:<12} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
