"""Images: cold build vs rebuild after a one-line change, size over the base, concurrent vs sequential push.

Runs against the real engine and throwaway local registries; every image and registry it makes is removed.
Goals: rebuild <= 0.2x a cold build; two concurrent pushes <= 0.7x the same two pushed one after the other.

    python benchmarks/bench_images.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shipyard.images import BuiltImage, RetryPolicy, build_image, load_image, push_image, push_images  # noqa: E402
from shipyard.testing import LocalRegistry  # noqa: E402

PUSH_LAYER_MB = 24


def _workspace(target: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "examples" / "hello-service",
        target / "examples" / "hello-service",
        ignore=shutil.ignore_patterns("__pycache__", "tests", "dist"),
    )
    return target


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _push_image_pair(client: Any, base: str, created: list[str]) -> list[BuiltImage]:
    """Two images of distinct, incompressible ~PUSH_LAYER_MB layers on a small base (fresh content per call)."""
    images = []
    for index in range(2):
        repository = f"shipyard-bench/push-{index}-{uuid.uuid4().hex[:8]}"
        payload = os.urandom(PUSH_LAYER_MB * 1024 * 1024)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, data in (("Dockerfile", f"FROM {base}\nCOPY payload /payload\n".encode()), ("payload", payload)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        image_id = None
        for line in client.api.build(fileobj=buffer, custom_context=True, network_mode="none", decode=True):
            image_id = (line.get("aux") or {}).get("ID", image_id)
        assert image_id, "benchmark image build failed"
        client.api.tag(image_id, repository, tag="bench")
        created += [f"{repository}:bench", image_id]
        images.append(BuiltImage(f"push-{index}", repository, (f"{repository}:bench",), image_id, "0", None))
    return images


def _seed(client: Any, registry: str, base: str, created: list[str], policy: RetryPolicy) -> None:
    """Push the shared base image first (untimed): the usual case is a registry that already holds it."""
    image_id = client.api.inspect_image(base)["Id"]
    seed = BuiltImage("base", "shipyard-bench/base", ("shipyard-bench/base:seed",), image_id, "0", None)
    push_image(seed, registry, policy=policy)
    created.append(f"{registry}/shipyard-bench/base:seed")


def _size_mb(client: Any, image: str) -> float:
    return float(client.api.inspect_image(image)["Size"]) / 1e6


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_images")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    import docker

    from shipyard._logging import configure

    configure(level="warning")
    client = docker.from_env(timeout=300)
    created: list[str] = []
    cold: list[float] = []
    warm: list[float] = []
    sequential: list[float] = []
    concurrent: list[float] = []
    added_mb = 0.0
    policy = RetryPolicy(attempts=3, timeout=300)
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        try:
            config = dataclasses.replace(
                load_image("hello-service", _workspace(Path(tmp))),
                repository=f"shipyard-bench/hello-{uuid.uuid4().hex[:8]}",
            )
            app = config.context / "src" / "hello_service" / "app.py"
            for run in range(args.runs):
                seconds, built = _timed(lambda: build_image(config, build_wheel=True, nocache=True))
                cold.append(seconds)
                created += [built.id, *built.tags]
                app.write_text(app.read_text() + f"# one-line change {run}\n")
                seconds, rebuilt = _timed(lambda: build_image(config, build_wheel=True))
                warm.append(seconds)
                created += [rebuilt.id]
                added_mb = _size_mb(client, rebuilt.id) - _size_mb(client, config.build_args["BASE_IMAGE"])
            base = config.build_args["BASE_IMAGE"]
            for _ in range(args.runs):
                with LocalRegistry() as registry:
                    _seed(client, registry.address, base, created, policy)
                    pair = _push_image_pair(client, base, created)
                    seconds, _ = _timed(
                        lambda pair=pair: [push_image(i, registry.address, policy=policy) for i in pair]
                    )
                    sequential.append(seconds)
                    created += [f"{registry.address}/{image.tags[0]}" for image in pair]
                with LocalRegistry() as registry:
                    _seed(client, registry.address, base, created, policy)
                    pair = _push_image_pair(client, base, created)
                    seconds, _ = _timed(lambda pair=pair: push_images(pair, registry.address, policy=policy))
                    concurrent.append(seconds)
                    created += [f"{registry.address}/{image.tags[0]}" for image in pair]
        finally:
            for tag in reversed(created):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag)
            client.close()

    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    seq_s, conc_s = statistics.median(sequential), statistics.median(concurrent)
    rows = [
        ("cold build (no layer cache)", f"{cold_s:.2f} s", ""),
        ("rebuild after a one-line source change", f"{warm_s:.2f} s", f"{warm_s / cold_s:.2f}x (goal <= 0.2x)"),
        ("image size added over the base image", f"{added_mb:.1f} MB", ""),
        (
            f"push 2 images (new {PUSH_LAYER_MB} MB layer each, base already there), one after the other",
            f"{seq_s:.2f} s",
            "",
        ),
        ("push the same 2 images concurrently", f"{conc_s:.2f} s", f"{conc_s / seq_s:.2f}x (goal <= 0.7x)"),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"medians of {args.runs} runs")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>10}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
