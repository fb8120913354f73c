"""Serve the app on 127.0.0.1:$PORT (SO_REUSEPORT) and, if set, on 127.0.0.1:$HEALTH_PORT.

`PORT` is the service's stable address. Two containers of the service may hold it at once during a
start-first swap, which SO_REUSEPORT allows; the kernel spreads new connections across both. `HEALTH_PORT` is
this instance's own port, so a health check proves *this* instance healthy and not its predecessor.
"""

from __future__ import annotations

import os
import socket
import sys

import uvicorn

from hello_service.app import create_app


def _listen(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _port(name: str, default: str | None = None) -> int | None:
    raw = os.environ.get(name, default)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        sys.exit(f"hello-service: ${name} must be a port number, got {raw!r}")


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = _port("PORT", "8000")
    health_port = _port("HEALTH_PORT")
    assert port is not None
    sockets = [_listen(host, port, reuse_port=True)]
    if health_port is not None:
        sockets.append(_listen(host, health_port, reuse_port=False))
    config = uvicorn.Config(
        create_app(),
        log_level=os.environ.get("LOG_LEVEL", "info"),
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
