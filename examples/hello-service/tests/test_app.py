"""The service's endpoints, through Starlette's test client, and the real server on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from hello_service import create_app


async def get(environ: dict[str, str], path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(environ))
    async with httpx.AsyncClient(transport=transport, base_url="http://hello") as client:
        return await client.get(path)


async def test_healthz_is_ok() -> None:
    response = await get({}, "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_fails_when_told_to() -> None:
    response = await get({"APP_FAIL_HEALTH": "1"}, "/healthz")
    assert response.status_code == 503


async def test_version_reports_package_version_and_revision() -> None:
    body = (await get({"APP_REVISION": "abc123"}, "/version")).json()
    assert body["service"] == "hello-service"
    assert body["revision"] == "abc123"
    assert body["version"].count(".") == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, deadline: float) -> httpx.Response:
    while True:
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_two_instances_share_the_port_and_have_their_own_health_ports() -> None:
    port, health_a, health_b = _free_port(), _free_port(), _free_port()
    procs = []
    try:
        for health, revision in ((health_a, "a"), (health_b, "b")):
            env = {**os.environ, "PORT": str(port), "HEALTH_PORT": str(health), "APP_REVISION": revision}
            procs.append(subprocess.Popen([sys.executable, "-m", "hello_service"], env=env))
        deadline = time.monotonic() + 20
        assert _wait_for(f"http://127.0.0.1:{health_a}/version", deadline).json()["revision"] == "a"
        assert _wait_for(f"http://127.0.0.1:{health_b}/version", deadline).json()["revision"] == "b"
        assert _wait_for(f"http://127.0.0.1:{port}/healthz", deadline).status_code == 200
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)


def test_a_connection_accepted_before_sigterm_still_gets_its_answer() -> None:
    """The race behind resets during a swap: accepted, then SIGTERM, then the request. It must be served."""
    import signal

    port = _free_port()
    env = {**os.environ, "PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "hello_service"], env=env)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 20)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            time.sleep(0.2)  # the server has accepted it; no request yet
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)  # the retiring server has begun to shut down
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: hello\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer
        # ...and it stopped accepting at once: a new connection now is refused (another instance would get it).
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert proc.wait(timeout=15) in {0, -signal.SIGTERM}
    finally:
        proc.kill()
        proc.wait(timeout=15)
