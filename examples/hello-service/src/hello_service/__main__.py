"""Serve the app on 127.0.0.1:$PORT (SO_REUSEPORT) and, if set, on 127.0.0.1:$HEALTH_PORT.

`PORT` is the service's stable address. Two containers of the service may hold it at once during a
start-first swap, which SO_REUSEPORT allows; the kernel spreads new connections across both. `HEALTH_PORT` is
this instance's own port, so a health check proves *this* instance healthy and not its predecessor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from types import FrameType

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


class DrainingServer(uvicorn.Server):
    """uvicorn, but on SIGTERM it stops accepting first and shuts down after a short drain.

    Plain uvicorn closes its listeners and, in the same breath, every connection that has not sent a request
    yet: a client whose connection was just accepted gets a reset. Here the listeners close first (with
    SO_REUSEPORT the kernel sends new connections to the other instance), the connections already accepted get
    ``DRAIN_SECONDS`` to deliver their requests, and then uvicorn's graceful shutdown runs as usual.
    """

    DRAIN_SECONDS = 1.0

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None or sig != signal.SIGTERM:
            super().handle_exit(sig, frame)  # Ctrl-C, a second signal, or not started yet: uvicorn's own way
            return
        self._draining = True
        self._loop.call_soon_threadsafe(self._drain, sig)

    def _drain(self, sig: int) -> None:
        for server in self.servers:
            server.close()  # stop accepting; queued connections migrate (net.ipv4.tcp_migrate_req=1)
        asyncio.get_running_loop().call_later(self.DRAIN_SECONDS, super().handle_exit, sig, None)


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
    DrainingServer(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
