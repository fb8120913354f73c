"""`shipyard init` on each fixture project (first run, and the second run that must change nothing), and the
generated Dockerfile's rebuild after a one-line source change vs a cold build (goal: <= 0.2x).

Uses the fixture projects of tests/init and a wheel of this checkout as the Shipyard they depend on; dependency
resolution uses uv's cache (the first run on a machine downloads). Every image it builds is removed.

    python benchmarks/bench_init.py [--no-images]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shipyard import _command  # noqa: E402
from shipyard._uv import find_uv  # noqa: E402

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def _fixtures() -> object:
    spec = importlib.util.spec_from_file_location("init_projects", ROOT / "tests" / "init" / "_projects.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _init(root: Path, wheel: Path) -> float:
    started = time.perf_counter()
    _command.run([SHIPYARD, "init", "--shipyard", str(wheel), "--no-workflows"], cwd=root)
    return time.perf_counter() - started


def _images(root: Path) -> tuple[float, float]:
    from shipyard.images import build_image, load_image, load_images

    (name,) = load_images(root)  # the one image init configured
    config = dataclasses.replace(load_image(name, root), repository=f"shipyard-bench/init-{uuid.uuid4().hex[:10]}")
    import docker

    client = docker.from_env()
    made: list[str] = []
    try:
        started = time.perf_counter()
        cold = build_image(config, build_wheel=True, nocache=True)
        cold_s = time.perf_counter() - started
        made += [cold.id, *cold.tags]
        source = root / "flaskr" / "__init__.py"
        source.write_text(source.read_text().replace("flaskr visits", "flaskr visit count"))
        started = time.perf_counter()
        warm = build_image(config, build_wheel=True)
        warm_s = time.perf_counter() - started
        made += [warm.id, *warm.tags]
    finally:
        for tag in reversed(made):
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(tag)
        client.close()
    return cold_s, warm_s


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-images", action="store_true")
    args = parser.parse_args(argv)
    projects = _fixtures()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-init-") as tmp:
        base = Path(tmp)
        _command.run([str(find_uv()), "build", "--wheel", "--out-dir", str(base / "wheel"), "--quiet", str(ROOT)])
        (wheel,) = (base / "wheel").glob("shipyard-*.whl")
        print(f"{'fixture':<14} {'init (s)':>9} {'second run (s)':>15}")
        for name in projects.FIXTURES:  # type: ignore[attr-defined]
            root = projects.write(name, base / name)  # type: ignore[attr-defined]
            first, second = _init(root, wheel), _init(root, wheel)
            print(f"{name:<14} {first:>9.2f} {second:>15.2f}")
        if args.no_images:
            return 0
        cold, warm = _images(base / "flask_app")
        ratio = warm / cold
        verdict = "ok" if ratio <= 0.2 else "MISSED"
        print(f"\nflask_app image: cold {cold:.2f} s, rebuild after a one-line change {warm:.2f} s, "
              f"ratio {ratio:.2f}x (goal <= 0.2x: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
