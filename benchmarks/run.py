"""Run every benchmark in this directory (``bench_*.py``) and print their tables.

Usage (through nox): ``nox -s bench`` or ``nox -s bench -- sessions images`` to pick by name.
Each module exposes ``main(argv) -> int``. Benchmarks measure side by side in one run and print ratios, because
these machines are noisy: absolute seconds from different runs are not comparable.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    status = 0
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"\n=== benchmark: {name} ===", flush=True)
        status |= int(module.main([]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
