"""Deploy to the local Docker engine when the image is already built: time to healthy, and a swap under load.

Measured side by side in one run (medians of N):
- bare start: `docker run` of the service until its /healthz answers (the service's own start time);
- deploy: `shipyard.deploy.deploy` of the same image to a throwaway docker env (lock, start beside the old one,
  health check on the new container's own port, retire the old one, history) until it returns;
- overhead = deploy - bare start (goal <= 5 s), and failed probes on the stable port during a swap (goal 0).
Needs the engine and a built hello-service image (`invoke`-free: uses shipyard.images.build_image locally).
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import threading
import time
import urllib.request
import uuid

from shipyard.deploy import deploy, load_environments
from shipyard.deploy._health import wait_healthy
from shipyard.testing import free_port, remove_environment

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _bare_start(client: object, image: str) -> float:
    port, health = free_port(), free_port()
    t0 = time.monotonic()
    c = client.containers.run(  # type: ignore[attr-defined]
        image, detach=True, network_mode="host", environment={"PORT": str(port), "HEALTH_PORT": str(health)}
    )
    try:
        ok, why = wait_healthy(f"http://127.0.0.1:{health}/healthz", 60, interval=0.02)
        assert ok, why
        return time.monotonic() - t0
    finally:
        c.remove(force=True)


def main(argv: list[str]) -> int:
    import docker

    from shipyard.images import build_image, load_image

    runs = int(argv[0]) if argv else 5
    client = docker.from_env()
    image = build_image(load_image("hello-service"), build_wheel=True).id
    base = load_environments()["local"]
    name = f"bench-{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = dataclasses.replace(base, name=name, settings={**base.settings, "port": port, "container": ""})
    bare, deploys, failed, probes = [], [], [], []
    try:
        for _ in range(runs):
            bare.append(_bare_start(client, image))
            stop, counts = threading.Event(), {"ok": 0, "failed": 0}

            def probe(stop: threading.Event = stop, counts: dict[str, int] = counts) -> None:
                while not stop.is_set():
                    try:
                        with OPENER.open(f"http://127.0.0.1:{port}/healthz", timeout=3):
                            counts["ok"] += 1
                    except OSError:
                        counts["failed"] += 1

            thread = threading.Thread(target=probe) if deploys else None  # probe swaps, not the first start
            if thread:
                thread.start()
            t0 = time.monotonic()
            result = deploy(env, image)
            deploys.append(time.monotonic() - t0)
            if thread:
                time.sleep(0.3)
                stop.set()
                thread.join()
                failed.append(counts["failed"])
                probes.append(counts["ok"] + counts["failed"])
            assert result.ok, result.reason
    finally:
        remove_environment(client, name)
    b, d = statistics.median(bare), statistics.median(deploys)
    print(f"{'measurement (median of ' + str(runs) + ')':44} {'value':>10}")
    print(f"{'bare start to healthy (service itself)':44} {b:9.2f}s")
    print(f"{'deploy to healthy (incl. swap, history)':44} {d:9.2f}s")
    print(f"{'overhead beyond the service start (goal <=5s)':44} {d - b:9.2f}s   ratio {d / b:.2f}x")
    print(f"{'failed probes during swaps (goal 0)':44} {sum(failed):>10}   of {sum(probes)} probes")
    return 0 if d - b <= 5 and sum(failed) == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
