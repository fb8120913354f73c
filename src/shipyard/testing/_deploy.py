"""Clean-up for tests and benchmarks that deploy to a Docker engine."""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["ProbeLoop", "remove_environment"]


def remove_environment(client: Any, env: str) -> None:
    """Remove every container a docker-target deploy to ``env`` left (its proxy, services, lock and state) and its
    volumes, the deploy journal's included."""
    found = client.containers.list(all=True, filters={"label": f"shipyard.env={env}"})
    for name in (f"shipyard-lock-{env}", f"shipyard-state-{env}", f"shipyard-state-{env}-migrating"):
        found += client.containers.list(all=True, filters={"name": f"^/{name}$"})
    for container in found:
        container.remove(force=True)
    for volume in client.volumes.list(filters={"label": f"shipyard.env={env}"}):
        volume.remove(force=True)
    journal = client.volumes.list(filters={"label": f"shipyard.state={env}"})  # the deploy journal
    journal += [
        v for v in client.volumes.list(filters={"name": f"shipyard-state-{env}"}) if v.name == f"shipyard-state-{env}"
    ]
    for volume in {v.name: v for v in journal}.values():
        volume.remove(force=True)


class ProbeLoop:
    """Requests ``path`` on ``host:port`` in a background thread until stopped (or ``limit`` seconds pass),
    counting answers by body and every failure (a non-2xx, a reset, a timeout). ``keep_alive`` reuses one
    connection for every request, as browsers and HTTP client pools do; otherwise each request opens a new one."""

    def __init__(self, port: int, *, keep_alive: bool, path: str = "/", host: str = "127.0.0.1", limit: float = 300):
        self.port, self.keep_alive, self.path, self.host, self.limit = port, keep_alive, path, host, limit
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: dict[str, int] = {}
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def _run(self) -> None:
        import http.client

        deadline = time.monotonic() + self.limit
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            t0 = time.perf_counter()
            try:
                headers = {} if self.keep_alive else {"Connection": "close"}
                conn.request("GET", self.path, headers=headers)
                response = conn.getresponse()
                body = response.read().decode(errors="replace").strip()
                self.latencies.append(time.perf_counter() - t0)
                if 200 <= response.status < 300:
                    self.ok += 1
                    self.bodies[body] = self.bodies.get(body, 0) + 1
                else:
                    self.failures.append(f"HTTP {response.status} {body[:60]}")
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = None
            if not self.keep_alive and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def start(self) -> ProbeLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.limit)

    def __enter__(self) -> ProbeLoop:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
