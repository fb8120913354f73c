"""Deploys to the local Docker engine through the environment's proxy (HAProxy), side by side in one run.

For each fixture app (tests/deploy/apps: Flask under gunicorn, ASGI under uvicorn; they know nothing of Shipyard):
- start: a bare ``docker run`` of the image until its first 2xx on its port, vs a deploy of the same image until
  it is healthy and switched (proxy check of ``healthy_checks`` consecutive 2xx, then the switch), medians of N;
  goal: overhead <= 1 s (the bake window comes on top, by design);
- swaps: failed requests during 10 deploys alternating two versions, under two probe loops (a fresh connection
  per request, and one keep-alive connection); goal 0;
- hop: request latency through the proxy vs straight to the app's private port, p50 and p99 of sequential
  keep-alive requests in interleaved blocks; goal: p50 overhead <= 1 ms.
Needs the engine, shipyard/python-base:bookworm and the proxy image (``bash ci/bootstrap.sh``).
"""

from __future__ import annotations

import http.client
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from shipyard.deploy._config import Environment
from shipyard.testing import ProbeLoop, free_port, remove_environment

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "deploy"))
import _apps


class Stopwatch:
    """A deploy Progress that notes when each phase was reached."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.at: dict[str, float] = {}

    def phase(self, name: str, **_details: Any) -> None:
        self.at.setdefault(name, time.monotonic() - self.t0)

    def check(self) -> None:
        pass


def _first_2xx(port: int, deadline: float) -> None:
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/")
            if 200 <= conn.getresponse().status < 300:
                return
        except OSError:
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"no 2xx on {port}")
        time.sleep(0.02)


def _bare_start(client: Any, image: str) -> float:
    port = free_port()
    t0 = time.monotonic()
    container = client.containers.run(image, detach=True, network_mode="host", environment={"PORT": str(port)})
    try:
        _first_2xx(port, t0 + 60)
        return time.monotonic() - t0
    finally:
        container.remove(force=True)


def _env(name: str, port: int, bake: float) -> Environment:
    settings = {
        "docker_host": "",
        "port": port,
        "host": "127.0.0.1",
        "container": "",
        "stop_timeout": 10,
        "bake": bake,
        "healthy_checks": 3,
        "drain_timeout": 30,
        "retain": 2,
    }
    return Environment(name=name, target="docker", image="bench", settings=settings, timeout=60)


def _latencies(port: int, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    found = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("GET", "/")
            conn.getresponse().read()
            found.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return found


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bench_app(client: Any, app: str, tags: dict[str, str], runs: int, swaps: int) -> dict[str, Any]:
    from shipyard.deploy._docker import DockerTarget

    name, port = f"bench-{uuid.uuid4().hex[:6]}", free_port()
    target = DockerTarget(_env(name, port, bake=1), client=client)
    bare, switched, total = [], [], []
    try:
        for run in range(runs):
            image = tags[f"{app}-v{1 + run % 2}"]
            bare.append(_bare_start(client, image))
            watch = Stopwatch()
            shipped = target.ship(image, f"s{run}-{uuid.uuid4().hex[:6]}", progress=watch)
            assert shipped.ok, shipped.reason
            switched.append(watch.at["switched"])
            total.append(time.monotonic() - watch.t0)
        fresh, kept = ProbeLoop(port, keep_alive=False, limit=600), ProbeLoop(port, keep_alive=True, limit=600)
        with fresh, kept:
            for swap in range(swaps):
                shipped = target.ship(tags[f"{app}-v{1 + swap % 2}"], f"w{swap}-{uuid.uuid4().hex[:6]}")
                assert shipped.ok, shipped.reason
            time.sleep(0.3)
        serving = target.proxy.serving()
        assert serving is not None
        direct, proxied = [], []
        for _ in range(5):  # interleaved blocks: both sides see the same machine load
            direct += _latencies(serving.port, 400)
            proxied += _latencies(port, 400)
    finally:
        remove_environment(client, name)
    return {
        "bare": statistics.median(bare),
        "switched": statistics.median(switched),
        "total": statistics.median(total),
        "failed": fresh.failed + kept.failed,
        "requests": fresh.ok + kept.ok + fresh.failed + kept.failed,
        "failures": (fresh.failures + kept.failures)[:3],
        "direct": (_pct(direct, 0.5), _pct(direct, 0.99)),
        "proxied": (_pct(proxied, 0.5), _pct(proxied, 0.99)),
    }


def main(argv: list[str]) -> int:
    import docker

    runs = int(argv[0]) if argv else 5
    swaps = int(argv[1]) if len(argv) > 1 else 10
    client = docker.from_env(timeout=120)
    built = _apps.build_apps(client, Path(f"/tmp/bench-deploy-{uuid.uuid4().hex[:6]}"), {"v1": {}, "v2": {}})
    assert built is not None, "no shipyard/python-base:bookworm: run `bash ci/bootstrap.sh`"
    repo, tags = built
    try:
        results = {app: bench_app(client, app, tags, runs, swaps) for app in _apps.SERVERS}
    finally:
        _apps.remove_apps(client, repo)
    ok = True
    title = f"measurement (medians of {runs} starts; {swaps} swaps)"
    print(f"{title:58} {'flask':>14} {'asgi':>14}")

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:58} {cells[0]:>14} {cells[1]:>14}")

    r = [results["flask"], results["asgi"]]
    row("bare docker run to first 2xx", [f"{x['bare']:.2f} s" for x in r])
    row("deploy to healthy and switched", [f"{x['switched']:.2f} s" for x in r])
    row("  overhead (goal <= 1 s)", [f"{x['switched'] - x['bare']:+.2f} s" for x in r])
    row("deploy to done (+ 1 s bake, drain, stop old)", [f"{x['total']:.2f} s" for x in r])
    row("failed requests during swaps, 2 probe loops (goal 0)", [f"{x['failed']}/{x['requests']}" for x in r])
    row("latency direct p50 / p99", [f"{x['direct'][0]:.2f}/{x['direct'][1]:.2f} ms" for x in r])
    row("latency through proxy p50 / p99", [f"{x['proxied'][0]:.2f}/{x['proxied'][1]:.2f} ms" for x in r])
    row(
        "  proxy hop p50 overhead (goal <= 1 ms)",
        [f"{x['proxied'][0] - x['direct'][0]:+.2f} ms" for x in r],
    )
    for app, x in results.items():
        if x["failures"]:
            print(f"{app}: first failures: {x['failures']}")
        ok &= x["switched"] - x["bare"] <= 1 and x["failed"] == 0 and x["proxied"][0] - x["direct"][0] <= 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
