"""The service's endpoints, through Starlette's test client, and the real server on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

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


def test_serves_on_port_and_stops_gracefully_on_sigterm() -> None:
    """An ordinary server: it answers on $PORT, and SIGTERM ends it cleanly (no traceback)."""
    import signal

    port = _free_port()
    env = {**os.environ, "PORT": str(port), "APP_REVISION": "a"}
    proc = subprocess.Popen([sys.executable, "-m", "hello_service"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/version", time.monotonic() + 20).json()["revision"] == "a"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
        assert proc.returncode in {0, -signal.SIGTERM}  # uvicorn re-raises the signal after its clean shutdown
        assert "Finished server process" in stderr
        assert "Traceback" not in stderr
    finally:
        proc.kill()
        proc.wait(timeout=15)


def test_a_bad_port_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hello_service"],
        env={**os.environ, "PORT": "eighty"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "hello-service: $PORT must be a port number, got 'eighty'"
