"""After the Docker engine restarts, the environment answers again by itself: the proxy (restart policy, config
file rewritten at every switch) and the serving version come back; the retired versions stay stopped.

The engine restarted here is a SECOND dockerd with its own socket, data root, exec root and pidfile: the suite's
engine is never touched.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing import free_port, require

from ._apps import build_apps, remove_apps
from .conftest import Project, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]
PROXY_IMAGE = "shipyard/proxy:haproxy-bookworm"


class SecondEngine:
    """A throwaway dockerd (bridge and iptables off, as the main one) that can be stopped and started again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        argv = [
            "dockerd",
            f"--host={self.host}",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'docker.pid'}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
        ]
        with (self.root / "dockerd.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "dockerd.log").read_text(errors="replace")[-1500:]
                raise AssertionError(f"the second dockerd did not start: {tail}")
            time.sleep(0.2)

    def answers(self) -> bool:
        import docker
        import docker.errors

        if not self.socket.exists():
            return False
        try:
            client = docker.DockerClient(base_url=self.host, timeout=5)
        except docker.errors.DockerException:
            return False
        try:
            return bool(client.ping())
        except docker.errors.DockerException:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # a clean engine shutdown: it stops its containers
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def engine(docker_client: Any) -> Iterator[SecondEngine]:
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        require("a second dockerd needs root and dockerd on PATH")
    root = Path(tempfile.mkdtemp(prefix="i12-dockerd-", dir="/tmp"))
    second = SecondEngine(root)
    second.start()
    try:
        yield second
    finally:
        import docker

        if second.answers():
            client = docker.DockerClient(base_url=second.host, timeout=60)
            for container in client.containers.list(all=True):
                container.remove(force=True)
            client.close()
        second.stop()
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def unmount_under(root: Path) -> None:
    """Unmount what a stopped dockerd left mounted under ``root`` (its network namespace), deepest first, so the
    directory can be removed."""
    with Path("/proc/self/mounts").open() as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{root}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", point], check=False, capture_output=True)


def _copy_image(source: Any, target: Any, ref: str) -> None:
    target.images.load(b"".join(source.images.get(ref).save(named=True)))


def _get(port: int) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        conn.close()


def test_the_environment_answers_again_after_an_engine_restart(
    engine: SecondEngine, docker_client: Any, project: Project, tmp_path: Path
) -> None:
    import docker
    import docker.errors

    try:
        docker_client.images.get(PROXY_IMAGE)
    except docker.errors.ImageNotFound:
        require(f"no proxy image {PROXY_IMAGE}: run `bash ci/proxy-image.sh`")
    built = build_apps(docker_client, tmp_path / "ctx", {"v1": {}, "v2": {}})
    if built is None:
        require("no Python base image shipyard/python-base:bookworm: run `bash ci/base-image.sh`")
    repo, tags = built
    second = docker.DockerClient(base_url=engine.host, timeout=120)
    try:
        for ref in (PROXY_IMAGE, tags["asgi-v1"], tags["asgi-v2"]):
            _copy_image(docker_client, second, ref)
        ids = {v: second.images.get(tags[v]).id for v in ("asgi-v1", "asgi-v2")}  # a tag is refused: deploy ids
    finally:
        remove_apps(docker_client, repo)
    env, port = unique("r"), free_port()
    table = {"target": "docker", "image": "app", "port": port, "bake": 1, "docker_host": engine.host, "timeout": 30}
    project.write({env: table})
    for version in ("asgi-v1", "asgi-v2"):
        proc = project.invoke("deploy", "--env", env, "--image", ids[version])
        assert proc.returncode == 0, proc.stderr
    assert _get(port) == (200, "asgi-v2")
    second.close()

    engine.stop()
    with pytest.raises(ConnectionRefusedError):
        _get(port)  # the engine took the proxy and the app down with it
    engine.start()

    deadline, answer = time.monotonic() + 60, (0, "")
    while time.monotonic() < deadline:
        try:
            answer = _get(port)
            if answer == (200, "asgi-v2"):
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert answer == (200, "asgi-v2")  # no deploy ran: the proxy and v2 came back by themselves
    client = docker.DockerClient(base_url=engine.host, timeout=60)
    try:
        running = {c.labels.get("shipyard.image", c.name) for c in client.containers.list()}
        assert ids["asgi-v1"] not in running  # the retired version stays stopped
        status = project.invoke("status", "--env", env, "--json")
        assert status.returncode == 0, status.stderr
        assert '"healthy": true' in status.stdout
    finally:
        client.close()
