"""Real image-registry parts for tests: a local ``docker-registry`` and a fault-injecting TCP proxy.

Both bind 127.0.0.1 on a free port, are context managers, and stop cleanly (``stop()`` is idempotent), so a
fixture that uses them in ``with`` or ``try/finally`` never leaves a server behind, even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from shipyard._command import run, terminate_group
from shipyard.testing._ports import free_port

__all__ = ["FaultProxy", "LocalRegistry"]

REGISTRY_BINARY = "docker-registry"


class LocalRegistry:
    """A CNCF distribution registry on 127.0.0.1 with filesystem storage; optional htpasswd (bcrypt) auth."""

    def __init__(self, *, username: str | None = None, password: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.username = username
        self.password = password
        self._dir = Path(tempfile.mkdtemp(prefix="shipyard-registry-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> LocalRegistry:
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self._dir / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.address, "secret": "shipyard-test-registry"},
        }
        if self.username is not None and self.password is not None:
            from shipyard.testing._parts import require_tool

            htpasswd = require_tool("htpasswd", "apache2-utils")
            line = run([htpasswd, "-Bbn", self.username, self.password]).output.strip()
            (self._dir / "htpasswd").write_text(line + "\n")
            config["auth"] = {"htpasswd": {"realm": "shipyard-test", "path": str(self._dir / "htpasswd")}}
        (self._dir / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        log = (self._dir / "registry.log").open("wb")
        # A server outlives any one command, so it cannot go through shipyard._command.run; it gets its own
        # process group, terminated as a whole by stop().
        self._process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(self._dir / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = (self._dir / "registry.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"docker-registry exited with {self._process.returncode}: {output}")
            if _answers(f"http://{self.address}/v2/"):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer on {self.address} within {timeout} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            terminate_group(self._process.pid)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalRegistry:
        return self.start() if self._process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - a loopback URL we built
            return True
    except urllib.error.HTTPError:
        return True  # 401 from an auth-enabled registry still means it is up
    except OSError:
        return False


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 that fails a share of requests: a 503 reply or a dropped connection.

    Each client connection carries exactly one request (the proxy asks upstream for ``Connection: close``), so
    every request, not only every connection, gets its own draw. ``fail_first`` requests always fail; after
    those, each fails with probability ``fail_rate``. ``faults`` and ``requests`` count what happened.
    """

    def __init__(
        self,
        upstream: str,
        *,
        fail_rate: float = 0.2,
        fail_first: int = 0,
        modes: tuple[str, ...] = ("503", "drop"),
        seed: int | None = None,
    ) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.fail_rate = fail_rate
        self.fail_first = fail_first
        self.modes = modes
        self.faults = 0
        self.requests = 0
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = int(self._server.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)

    def start(self) -> FaultProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        with contextlib.suppress(OSError):
            self._server.close()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start() if not self._acceptor.is_alive() else self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _draw(self) -> str | None:
        with self._lock:
            self.requests += 1
            fail = self.requests <= self.fail_first or self._random.random() < self.fail_rate
            if not fail:
                return None
            self.faults += 1
            return self._random.choice(self.modes)

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(30)
        with client:
            head = _read_head(client)
            if head is None:
                return
            fault = self._draw()
            if fault == "drop":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return  # RST on close: the client sees a reset connection
            if fault is not None:
                body = b"injected fault\n"
                client.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                return
            with upstream:
                upstream.sendall(_close_after(head))
                _pipe(client, upstream, self._stopping)


def _read_head(sock: socket.socket) -> bytes | None:
    """Bytes up to and including the end of the request head (and whatever body bytes came with it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _close_after(data: bytes) -> bytes:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest


def _pipe(client: socket.socket, upstream: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until upstream closes (it will: the request asked for Connection: close)."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while not stopping.is_set():
            for key, _ in selector.select(timeout=0.2):
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                target: socket.socket = key.data
                try:
                    chunk = source.recv(65536)
                except OSError:
                    return
                if not chunk:
                    if source is upstream:
                        return
                    selector.unregister(client)  # the client finished sending; wait for the response
                    continue
                try:
                    target.sendall(chunk)
                except OSError:
                    return
