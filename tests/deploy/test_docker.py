"""The docker target on the real engine, driven through the `invoke` CLI in a subprocess.

Images are hello-service builds (see _images.py): v1, v2, and v3 whose /healthz answers 503 (APP_FAIL_HEALTH=1).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing import MotoServer, free_port, remove_environment, require

from ._images import build_versions, remove_images
from .conftest import Project, assert_clean_failure, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "hunter2-deploy-secret-value"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


MIGRATE = Path("/proc/sys/net/ipv4/tcp_migrate_req")


@pytest.fixture(scope="module", autouse=True)
def _migrate_requests() -> Iterator[None]:
    """With tcp_migrate_req=1 the kernel hands connections queued on the retiring listener to the new one instead
    of resetting them (measured: 1 reset in ~12k probes over 8 swaps without it, 0 with it). ci/ sets it; this
    sets it for the module when allowed (root) and puts the old value back."""
    old = MIGRATE.read_text().strip() if MIGRATE.exists() else None
    try:
        if old == "0":
            MIGRATE.write_text("1")
    except OSError:
        pass
    yield
    if old == "0":
        with contextlib.suppress(OSError):
            MIGRATE.write_text(old)


@pytest.fixture(scope="module")
def images(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    built = build_versions(
        docker_client, tmp_path_factory.mktemp("ctx"), {"v1": {}, "v2": {}, "v3": {"APP_FAIL_HEALTH": "1"}}
    )
    if built is None:
        require("no Python base image shipyard/python-base:bookworm: run `bash ci/base-image.sh`")
    tag, ids = built
    try:
        yield ids
    finally:
        remove_images(docker_client, tag)


@pytest.fixture
def docker_env(project: Project, docker_client: Any) -> Iterator[tuple[Project, str, int]]:
    name, port = unique("t"), free_port()
    project.write({name: {"target": "docker", "image": "hello", "port": port, "timeout": 20, "stop_timeout": 10}})
    try:
        yield project, name, port
    finally:
        remove_environment(docker_client, name)


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with OPENER.open(url, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def deploy(project: Project, env: str, image: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return project.invoke("deploy", "--env", env, "--image", image, "--json", *extra)


class Prober:
    """Hits the stable address with a fresh connection per request, counting failures, until stopped."""

    def __init__(self, url: str) -> None:
        self.url, self.ok, self.failed, self.errors = url, 0, 0, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with OPENER.open(self.url, timeout=3) as response:
                    assert response.status == 200
                self.ok += 1
            except Exception as exc:
                self.failed += 1
                self.errors.append(repr(exc))

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_swap_failed_health_check_and_rollback(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    stable = f"http://127.0.0.1:{port}"
    first = deploy(project, env, images["v1"])
    assert first.returncode == 0, first.stderr
    assert get(f"{stable}/version")[1]["revision"] == "v1"

    with Prober(f"{stable}/healthz") as prober:
        second = deploy(project, env, images["v2"])
        time.sleep(0.5)
    assert second.returncode == 0, second.stderr
    print(f"swap v1 -> v2: {prober.ok} probes ok, {prober.failed} failed {prober.errors[:3]}")
    assert prober.ok > 0
    assert prober.failed == 0, prober.errors[:5]
    assert get(f"{stable}/version")[1]["revision"] == "v2"
    running = docker_client.containers.list(filters={"label": f"shipyard.env={env}"})
    assert len(running) == 1
    assert running[0].labels["shipyard.image"] == images["v2"]
    assert running[0].labels["shipyard.deploy-id"] == json.loads(second.stdout)["deploy_id"]

    third = deploy(project, env, images["v3"])
    assert_clean_failure(third, "never turned healthy", "HTTP 503", "kept serving")
    assert json.loads(third.stdout)["details"]["log_tail"]  # the new container's log tail is reported
    assert get(f"{stable}/version")[1]["revision"] == "v2"  # v2 still serving
    assert len(docker_client.containers.list(all=True, filters={"label": f"shipyard.env={env}"})) == 1

    records = json.loads(project.invoke("history", "--env", env, "--json").stdout)
    assert [(r["image"], r["result"]) for r in records] == [
        (images["v1"], "succeeded"),
        (images["v2"], "succeeded"),
        (images["v3"], "failed"),
    ]
    back = project.invoke("rollback", "--env", env, "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["image"] == images["v1"]
    assert get(f"{stable}/version")[1]["revision"] == "v1"
    status = json.loads(project.invoke("status", "--env", env, "--json").stdout)
    assert status["image"] == images["v1"]
    assert status["healthy"] is True


def test_concurrent_deploys_one_is_refused_naming_the_holder(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    """The first deploy holds the lock for its whole health-check window (v3 never turns healthy, so that window
    is the env's full timeout): a second deploy started inside it is refused, naming the first one."""
    project, env, _port = docker_env
    first = subprocess.Popen(
        _argv(project, env, images["v3"]),
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not docker_client.containers.list(all=True, filters={"name": f"^/shipyard-lock-{env}$"}):
            assert time.monotonic() < deadline, "the first deploy never took the lock"
            time.sleep(0.05)
        holder = docker_client.containers.get(f"shipyard-lock-{env}").labels["shipyard.holder"]
        second = project.invoke("deploy", "--env", env, "--image", images["v1"])
    finally:
        first.wait(timeout=120)
        first.communicate()
    assert_clean_failure(second, "is locked by", holder)
    assert first.returncode != 0  # v3 failed its health check: the first deploy fails on its own account


def _argv(project: Project, env: str, image: str) -> list[str]:
    from .conftest import INVOKE

    return [INVOKE, "deploy", "--env", env, "--image", image]


def test_a_secret_reaches_the_container_and_nowhere_else(
    project: Project, moto: MotoServer, images: dict[str, str], docker_client: Any
) -> None:
    name, port, param = unique("s"), free_port(), f"/{unique('p')}/token"
    moto.client("ssm").put_parameter(Name=param, Value=SECRET, Type="SecureString")  # type: ignore[attr-defined]
    project.env.update(moto.env)
    project.write(
        {
            name: {
                "target": "docker",
                "image": "hello",
                "port": port,
                "timeout": 20,
                "secrets": {"APP_TOKEN": f"ssm:{param}"},
            }
        }
    )
    try:
        proc = deploy(project, name, images["v1"])
        assert proc.returncode == 0, proc.stderr
        hist = project.invoke("history", "--env", name, "--json")
        status = project.invoke("status", "--env", name, "--json")
        (container,) = docker_client.containers.list(filters={"label": f"shipyard.env={name}"})
        assert f"APP_TOKEN={SECRET}" in container.attrs["Config"]["Env"]  # the container receives it
        everything = proc.stdout + proc.stderr + hist.stdout + hist.stderr + status.stdout + status.stderr
        everything += json.dumps(container.labels) + container.logs().decode()
        state = docker_client.containers.get(f"shipyard-state-{name}")
        everything += b"".join(state.get_archive("/journal")[0]).decode(errors="replace")
        assert SECRET not in everything
        assert json.loads(proc.stdout)["ok"] is True
    finally:
        remove_environment(docker_client, name)


def test_engine_not_reachable_is_one_line(project: Project, tmp_path: Path) -> None:
    project.write({"x": {"target": "docker", "image": "hello", "port": free_port()}})
    proc = project.invoke("status", "--env", "x", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert_clean_failure(proc, "cannot reach the Docker engine", "DOCKER_HOST")


def test_unknown_env_lists_the_valid_ones(project: Project) -> None:
    project.write(
        {"alpha": {"target": "docker", "image": "a", "port": 1}, "beta": {"target": "docker", "image": "b", "port": 2}}
    )
    assert_clean_failure(project.invoke("deploy", "--env", "nope", "--image", "x"), "'nope'", "alpha, beta")


def test_bad_key_names_the_file_and_key(project: Project) -> None:
    project.write({"alpha": {"target": "docker", "image": "a", "port": "eighty"}})
    assert_clean_failure(project.invoke("status", "--env", "alpha"), "pyproject.toml", "environments.alpha.port")
