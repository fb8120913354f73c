"""The docker target on the real engine and the real proxy (HAProxy), driven through the `invoke` CLI.

The apps are the fixtures of apps/ (a Flask app under gunicorn, an ASGI app under uvicorn), which know nothing of
Shipyard and read only $PORT. Versions: v1, v2, v3; ``bad`` answers 503 everywhere; ``crash`` exits 3 at start;
``flaky`` is healthy for its first 40 requests and answers 500 after (a margin over the health checks of
Shipyard and of the proxy, which checks a staged slot every 50 ms, so it fails only once it takes traffic).
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing import MotoServer, ProbeLoop, free_port, remove_environment, require

from ._apps import build_apps, remove_apps
from .conftest import Project, assert_clean_failure, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "hunter2-deploy-secret-value"
APPS = ("flask", "asgi")
PROXY_IMAGE = "shipyard/proxy:haproxy-bookworm"
VERSIONS = {
    "v1": {},
    "v2": {},
    "v3": {},
    "bad": {"FIXTURE_FAIL_HEALTH": "1"},
    "crash": {"crash": "1"},
    "flaky": {"FIXTURE_FAIL_AFTER": "40"},
}


@pytest.fixture(scope="module")
def images(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    import docker.errors

    try:
        docker_client.images.get(PROXY_IMAGE)
    except docker.errors.ImageNotFound:
        require(f"no proxy image {PROXY_IMAGE}: run `bash ci/proxy-image.sh`")
    built = build_apps(docker_client, tmp_path_factory.mktemp("apps"), VERSIONS)
    if built is None:
        require("no Python base image shipyard/python-base:bookworm: run `bash ci/base-image.sh`")
    repo, tags = built
    try:  # deployed by image id: the docker target refuses a tag, which can move
        yield {name: docker_client.images.get(tag).id for name, tag in tags.items()}
    finally:
        remove_apps(docker_client, repo)


@pytest.fixture
def docker_env(project: Project, docker_client: Any) -> Iterator[tuple[Project, str, int]]:
    name, port = unique("t"), free_port()
    project.write({name: _table(port)})
    try:
        yield project, name, port
    finally:
        remove_environment(docker_client, name)


#: An immutable image reference that passes the option check, so the config's own mistakes are what fails.
ANY_ID = "sha256:" + "0" * 64


def _table(port: int, **extra: Any) -> dict[str, Any]:
    return {"target": "docker", "image": "app", "port": port, "timeout": 20, "bake": 2, "stop_timeout": 10, **extra}


def get(port: int, path: str = "/", timeout: float = 10) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        conn.close()


def deploy(project: Project, env: str, image: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return project.invoke("deploy", "--env", env, "--image", image, "--json", *extra)


def result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(proc.stdout))


def app_containers(client: Any, env: str) -> list[Any]:
    return client.containers.list(
        all=True, ignore_removed=True, filters={"label": [f"shipyard.env={env}", "shipyard.role=service"]}
    )


@pytest.mark.parametrize("app", APPS)
def test_three_versions_swap_with_zero_failed_requests(
    app: str, docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    first = deploy(project, env, images[f"{app}-v1"])
    assert first.returncode == 0, first.stderr
    assert get(port) == (200, f"{app}-v1")

    slow: dict[str, Any] = {}

    def slow_request() -> None:  # started before v2's switch, it must finish on v1
        slow["answer"] = get(port, "/slow?s=4")

    fresh, kept = ProbeLoop(port, keep_alive=False, limit=180), ProbeLoop(port, keep_alive=True, limit=180)
    with fresh, kept:
        waiter = threading.Thread(target=slow_request)
        waiter.start()
        time.sleep(0.3)
        second = deploy(project, env, images[f"{app}-v2"])
        third = deploy(project, env, images[f"{app}-v3"])
        waiter.join(timeout=30)
        time.sleep(0.3)
    assert second.returncode == 0, second.stderr
    assert third.returncode == 0, third.stderr
    print(f"{app}: fresh {fresh.ok} ok {fresh.bodies}, keep-alive {kept.ok} ok {kept.bodies}")
    assert fresh.failures == []
    assert kept.failures == []
    assert slow["answer"] == (200, f"{app}-v1")
    for probe in (fresh, kept):
        assert probe.bodies.get(f"{app}-v2", 0) > 0
        assert probe.bodies.get(f"{app}-v3", 0) > 0
    assert get(port) == (200, f"{app}-v3")

    containers = {c.labels["shipyard.image"]: c.status for c in app_containers(docker_client, env)}
    assert containers == {images[f"{app}-v1"]: "exited", images[f"{app}-v2"]: "exited", images[f"{app}-v3"]: "running"}
    status = result(project.invoke("status", "--env", env, "--json"))
    assert status["image"] == images[f"{app}-v3"]
    assert status["healthy"] is True
    assert status["requests"] > 0
    assert status["errors_5xx"] == 0


def test_a_version_that_crashes_at_start_fails_fast_with_its_exit_code(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    assert deploy(project, env, images["flask-v1"]).returncode == 0
    t0 = time.monotonic()
    proc = deploy(project, env, images["flask-crash"])
    assert_clean_failure(proc, "exited with code 3", "kept serving")
    shipped = result(proc)
    assert shipped["duration"] < 3.0, shipped["duration"]
    assert time.monotonic() - t0 < 15  # the whole CLI, imports and image lookup included
    assert "boom: DATABASE_URL is not set" in shipped["details"]["log_tail"]
    assert get(port) == (200, "flask-v1")
    assert [c.labels["shipyard.image"] for c in app_containers(docker_client, env)] == [images["flask-v1"]]


def test_a_version_that_fails_health_never_receives_traffic(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    project.write({env: _table(port, timeout=3)})
    assert deploy(project, env, images["asgi-v1"]).returncode == 0
    with ProbeLoop(port, keep_alive=True, limit=60) as kept, ProbeLoop(port, keep_alive=False, limit=60) as fresh:
        proc = deploy(project, env, images["asgi-bad"])
    assert_clean_failure(proc, "never turned healthy", "L7STS 503", "answer / with a 2xx", "kept serving")
    for probe in (kept, fresh):
        assert probe.failures == []
        assert set(probe.bodies) == {"asgi-v1"}  # not one answer from the bad version
    assert get(port) == (200, "asgi-v1")
    assert len(app_containers(docker_client, env)) == 1


def test_a_version_failing_within_the_bake_is_rolled_back_and_the_old_one_never_stopped(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    project.write({env: _table(port, bake=6)})
    assert deploy(project, env, images["flask-v1"]).returncode == 0
    (old,) = app_containers(docker_client, env)
    started = old.attrs["State"]["StartedAt"]
    with ProbeLoop(port, keep_alive=True, limit=60) as probe, ProbeLoop(port, keep_alive=False, limit=60) as fresh:
        proc = deploy(project, env, images["flask-flaky"])
        time.sleep(0.5)
    assert_clean_failure(proc, "rolled back", "within the 6 s bake", "serving again")
    failures = probe.failures + fresh.failures
    app_500s = [f for f in failures if f.startswith("HTTP 500")]  # the flaky app's own answers, before its check trips
    proxy_503s = [f for f in failures if f.startswith("HTTP 503")]  # HAProxy's "No server is available"
    other = [f for f in failures if f not in app_500s and f not in proxy_503s]  # resets, timeouts
    print(f"bake failure: {len(app_500s)} app 500s, {len(proxy_503s)} proxy 503s, {len(other)} other failures")
    assert get(port) == (200, "flask-v1")
    old.reload()
    assert old.status == "running"
    assert old.attrs["State"]["StartedAt"] == started  # never stopped or restarted
    assert [c.id for c in app_containers(docker_client, env)] == [old.id]
    assert probe.bodies.get("flask-v1", 0) > 0
    assert fresh.bodies.get("flask-v1", 0) > 0
    # the old version waits as HAProxy's backup during the bake: once the proxy marks the new one down, requests
    # go back to the old one at once, never "No server is available", never a reset or a timeout
    assert proxy_503s == [], proxy_503s
    assert other == [], other


def test_a_failing_release_command_aborts_with_traffic_untouched(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    assert deploy(project, env, images["asgi-v1"]).returncode == 0
    project.write(
        {env: _table(port, release_command=["python3", "-c", "import sys; print('migration 7 failed'); sys.exit(5)"])}
    )
    with ProbeLoop(port, keep_alive=False, limit=60) as probe:
        proc = deploy(project, env, images["asgi-v2"])
    assert_clean_failure(proc, "release_command", "exited with 5", "traffic untouched")
    assert "migration 7 failed" in result(proc)["details"]["log_tail"]
    assert probe.failures == []
    assert set(probe.bodies) == {"asgi-v1"}
    assert [c.labels["shipyard.image"] for c in app_containers(docker_client, env)] == [images["asgi-v1"]]
    assert not docker_client.containers.list(
        all=True, filters={"label": [f"shipyard.env={env}", "shipyard.role=release"]}
    )


def test_volumes_command_env_file_and_limits_reach_the_container(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    (project.root / "app.env").write_text("# settings\nFIXTURE_VERSION=from-the-env-file\nEMPTY=\n")
    (project.root / "shared").mkdir()
    (project.root / "shared" / "seed.txt").write_text("seed\n")
    migrate = "import pathlib; p = pathlib.Path('/data/migrations'); "
    migrate += "p.write_text((p.read_text() if p.exists() else '') + 'm\\n')"
    project.write(
        {
            env: _table(
                port,
                volumes=["data:/data", "./shared:/shared:ro"],
                env_file="app.env",
                release_command=["python3", "-c", migrate],
                command=[
                    "sh",
                    "-c",
                    "exec python3 -m uvicorn asgi_app:app --host 127.0.0.1 --port $PORT --no-access-log",
                ],
                memory="256m",
                cpus=0.5,
                pids_limit=200,
            )
        }
    )
    assert deploy(project, env, images["flask-v1"]).returncode == 0  # the flask image, run with uvicorn instead
    assert get(port) == (200, "from-the-env-file")
    assert deploy(project, env, images["flask-v2"]).returncode == 0
    (container,) = docker_client.containers.list(filters={"label": [f"shipyard.env={env}", "shipyard.role=service"]})
    assert "uvicorn" in " ".join(container.attrs["Config"]["Cmd"])
    host = container.attrs["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (256 * 2**20, 500_000_000, 200)
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/data"]["Name"] == f"shipyard-{env}-data"
    assert mounts["/shared"]["Source"] == str((project.root / "shared").resolve())
    assert mounts["/shared"]["RW"] is False
    code, out = container.exec_run(["sh", "-c", "cat /data/migrations /shared/seed.txt"])
    assert (code, out.decode()) == (0, "m\nm\nseed\n")  # both releases ran against the same named volume
    logs = project.invoke("status", "--env", env, "--json").stdout + project.invoke("history", "--env", env).stdout
    assert "from-the-env-file" not in logs  # env-file values are treated as secrets

    down = project.invoke("down", "--env", env)
    assert down.returncode == 0, down.stderr
    assert not docker_client.containers.list(all=True, filters={"label": f"shipyard.env={env}"})
    assert docker_client.volumes.get(f"shipyard-{env}-data")  # kept without --volumes
    assert len(json.loads(project.invoke("history", "--env", env, "--json").stdout)) == 2  # history kept
    assert project.invoke("down", "--env", env, "--volumes").returncode == 0
    assert not docker_client.volumes.list(filters={"label": f"shipyard.env={env}"})
    with pytest.raises(ConnectionRefusedError):
        get(port)


def test_status_shows_the_proxy_view(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    project, env, port = docker_env
    empty = project.invoke("status", "--env", env)
    assert empty.returncode == 0, empty.stderr
    assert "nothing deployed" in empty.stdout
    assert deploy(project, env, images["asgi-v1"]).returncode == 0
    for _ in range(5):
        get(port)
    get(port, "/missing")
    status = result(project.invoke("status", "--env", env, "--json"))
    (serving,) = [s for s in status["slots"] if s["mode"] == "serving"]
    assert serving["healthy"] is True
    assert serving["last_check"] == "L7OK 200"
    assert status["requests"] >= 6
    assert status["errors_5xx"] == 0
    assert status["serving"].startswith(f"shipyard-{env}-")
    text = project.invoke("status", "--env", env).stdout
    assert f"serving: {status['serving']}" in text
    assert "healthy: True" in text


def test_killed_during_bake_then_recovered_puts_the_old_version_back(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    """kill -9 of `invoke deploy` after the switch, within the bake: recover() (which the next deploy's flow calls
    with the journal) switches back to the old version and removes the unproven one."""
    from shipyard.deploy import get_environment
    from shipyard.deploy._docker import DockerTarget

    from .conftest import INVOKE

    project, env, port = docker_env
    project.write({env: _table(port, bake=30)})
    assert deploy(project, env, images["flask-v1"]).returncode == 0
    (old,) = app_containers(docker_client, env)
    proc = subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", images["flask-v2"]], cwd=project.root, env=project.env
    )
    try:
        deadline = time.monotonic() + 60
        while get(port)[1] != "flask-v2":
            assert time.monotonic() < deadline, "v2 never took traffic"
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    (new,) = [c for c in app_containers(docker_client, env) if c.id != old.id]
    phases = [
        {"phase": "starting", "container": new.name},
        {"phase": "started"},
        {"phase": "healthy"},
        {"phase": "switched", "previous": old.name},
    ]
    target = DockerTarget(get_environment(env, project.root), client=docker_client)
    with ProbeLoop(port, keep_alive=True, limit=60) as probe:
        said = target.recover(new.labels["shipyard.deploy-id"], phases)
    assert "switched traffic back" in said
    assert probe.failures == []
    assert get(port) == (200, "flask-v1")
    assert [c.id for c in app_containers(docker_client, env)] == [old.id]
    assert "never took traffic" in target.recover(new.labels["shipyard.deploy-id"], phases) or "no container" in (
        target.recover(new.labels["shipyard.deploy-id"], phases)
    )  # idempotent


def test_a_secret_reaches_the_container_and_nowhere_else(
    project: Project, moto: MotoServer, images: dict[str, str], docker_client: Any
) -> None:
    name, port, param = unique("s"), free_port(), f"/{unique('p')}/token"
    moto.client("ssm").put_parameter(Name=param, Value=SECRET, Type="SecureString")  # type: ignore[attr-defined]
    project.env.update(moto.env)
    project.write({name: _table(port, secrets={"APP_TOKEN": f"ssm:{param}"})})
    try:
        proc = deploy(project, name, images["asgi-v1"])
        assert proc.returncode == 0, proc.stderr
        hist = project.invoke("history", "--env", name, "--json")
        status = project.invoke("status", "--env", name, "--json")
        (container,) = docker_client.containers.list(
            filters={"label": [f"shipyard.env={name}", "shipyard.role=service"]}
        )
        assert f"APP_TOKEN={SECRET}" in container.attrs["Config"]["Env"]  # the container receives it
        everything = proc.stdout + proc.stderr + hist.stdout + hist.stderr + status.stdout + status.stderr
        everything += json.dumps(container.labels) + container.logs().decode()
        state = docker_client.containers.get(f"shipyard-state-{name}")
        everything += b"".join(state.get_archive("/state")[0]).decode(errors="replace")
        assert SECRET not in everything
        assert result(proc)["ok"] is True
    finally:
        remove_environment(docker_client, name)


def test_engine_not_reachable_is_one_line(project: Project, tmp_path: Path) -> None:
    project.write({"x": {"target": "docker", "image": "hello", "port": free_port()}})
    proc = project.invoke("status", "--env", "x", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert_clean_failure(proc, "cannot reach the Docker engine", "DOCKER_HOST")


@pytest.mark.parametrize("how", ["deploy", "dry-run"])
@pytest.mark.parametrize("form", ["full", "short", "bare-short", "prefix"])
def test_an_image_id_absent_from_the_host_is_refused_before_anything_changes(
    docker_env: tuple[Project, str, int], docker_client: Any, how: str, form: str
) -> None:
    """An id names a local image: dockerd would try to pull it from Docker Hub (and hang or fail obscurely
    without a network). It is refused in one line with the fix, before the lock, the journal or the proxy; so is
    a short id (``sha256:abcd...``, or 12 hex digits as `docker images` prints it) and an id prefix shared by two
    images (which the engine would call "no such image"), as bad input: they can come to name another image."""
    project, env, _port = docker_env
    full = "sha256:" + uuid.uuid4().hex * 2
    if form == "prefix":  # a prefix shared by two images on this host
        ids = sorted(str(image.id) for image in docker_client.images.list())
        full = next(a[:8] for a, b in itertools.pairwise(ids) if a[:8] == b[:8])
    missing = {"full": full, "short": full[:19], "bare-short": full[7:19], "prefix": full}[form]
    started = time.monotonic()
    proc = deploy(project, env, missing, *(["--dry-run"] if how == "dry-run" else []))
    if form == "full":
        line = assert_clean_failure(proc, missing, "not on the Docker host", "docker load", "invoke image.push")
    else:  # a short id or a prefix can come to name another image: refused as bad input, with the full form
        line = assert_clean_failure(proc, missing, "image id" if form != "bare-short" else "no digest")
    assert ("@sha256:" if form in {"full", "bare-short"} else "64 lowercase hex") in line  # the fix: the full form
    assert time.monotonic() - started < 30
    assert not docker_client.containers.list(all=True, filters={"name": f"shipyard-.*-{env}$"})
    assert not docker_client.volumes.list(filters={"name": f"shipyard-state-{env}"})
    assert "no deploys" in project.invoke("history", "--env", env).stdout.lower() or not json.loads(
        project.invoke("history", "--env", env, "--json").stdout
    )


def test_unknown_env_lists_the_valid_ones(project: Project) -> None:
    project.write(
        {"alpha": {"target": "docker", "image": "a", "port": 1}, "beta": {"target": "docker", "image": "b", "port": 2}}
    )
    assert_clean_failure(project.invoke("deploy", "--env", "nope", "--image", ANY_ID), "'nope'", "alpha, beta")


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        ({"port": "eighty"}, ("environments.alpha.port",)),
        ({"volume": ["data:/data"]}, ("environments.alpha.volume", "unknown key", "volumes")),
        ({"volumes": ["data"]}, ("environments.alpha.volumes", '"name:/path"')),
        ({"volumes": ["data:relative"]}, ("environments.alpha.volumes",)),
        ({"volumes": ["bad name!:/data"]}, ("environments.alpha.volumes", "letters, digits")),
        ({"bake": -1}, ("environments.alpha.bake", "at least 0")),
        ({"bake_max_5xx": 2}, ("environments.alpha.bake_max_5xx", "between 0 and 1")),
        ({"healthy_checks": 0}, ("environments.alpha.healthy_checks",)),
        ({"memory": "lots"}, ("environments.alpha.memory", '"512m"')),
        ({"release_command": []}, ("environments.alpha.release_command", "non-empty list")),
        ({"command": ["python", 3]}, ("environments.alpha.command",)),
        ({"env_file": "missing.env"}, ("environments.alpha.env_file", "cannot read env file", "missing.env")),
    ],
)
def test_bad_docker_settings_are_one_line_before_anything_runs(
    project: Project, extra: dict[str, Any], needles: tuple[str, ...]
) -> None:
    project.write({"alpha": {"target": "docker", "image": "a", "port": free_port(), **extra}})
    assert_clean_failure(project.invoke("deploy", "--env", "alpha", "--image", ANY_ID), "pyproject.toml", *needles)


def test_a_bad_env_file_line_names_the_file_and_line(project: Project) -> None:
    (project.root / "bad.env").write_text("GOOD=1\nthis is not a setting\n")
    project.write({"alpha": {"target": "docker", "image": "a", "port": free_port(), "env_file": "bad.env"}})
    assert_clean_failure(project.invoke("deploy", "--env", "alpha", "--image", ANY_ID), "bad.env:2", "KEY=VALUE")


@pytest.mark.parametrize("when", ["health", "bake"])
def test_sigint_undoes_the_unproven_version(
    when: str, docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    """Ctrl-C while the new version is checked (it never turns healthy) or baking (it already took traffic):
    the old version serves again and the new container is gone."""
    import signal

    from .conftest import INVOKE

    project, env, port = docker_env
    project.write({env: _table(port, bake=30, timeout=30)})
    assert deploy(project, env, images["asgi-v1"]).returncode == 0
    (old,) = app_containers(docker_client, env)
    image = images["asgi-bad" if when == "health" else "asgi-v2"]
    proc = subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", image],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with ProbeLoop(port, keep_alive=True, limit=90) as probe:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, f"never reached {when}"
            if when == "health" and len(app_containers(docker_client, env)) == 2:
                time.sleep(1.0)  # inside the health wait
                break
            if when == "bake" and get(port)[1] == "asgi-v2":
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        time.sleep(0.3)
    assert proc.returncode != 0
    assert get(port) == (200, "asgi-v1")
    assert [c.id for c in app_containers(docker_client, env)] == [old.id]
    old.reload()
    assert old.status == "running"
    assert probe.failures == []


def test_concurrent_deploys_one_is_refused_naming_the_holder(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    """The first deploy holds the lock for its whole health-check window (``bad`` never turns healthy, so that
    window is the env's full timeout): a second deploy started inside it is refused, naming the first one."""
    from .conftest import INVOKE

    project, env, _port = docker_env
    first = subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", images["asgi-bad"]],
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
        second = project.invoke("deploy", "--env", env, "--image", images["asgi-v1"])
    finally:
        first.communicate(timeout=120)
    assert_clean_failure(second, "is locked by", holder)
    assert first.returncode != 0  # the bad version failed its health check: the first deploy fails on its own


def test_a_proxy_removed_by_hand_comes_back_with_the_next_deploy(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    """`docker rm -f` of the proxy: the stable port is down until the next deploy, which recreates the proxy,
    serves the new version and stops the old one the proxy no longer knew about (no orphan keeps running)."""
    project, env, port = docker_env
    assert deploy(project, env, images["asgi-v1"]).returncode == 0
    docker_client.containers.get(f"shipyard-proxy-{env}").remove(force=True)
    with pytest.raises(ConnectionRefusedError):
        get(port)
    proc = deploy(project, env, images["asgi-v2"])
    assert proc.returncode == 0, proc.stderr
    assert get(port) == (200, "asgi-v2")
    running = docker_client.containers.list(filters={"label": [f"shipyard.env={env}", "shipyard.role=service"]})
    assert [c.labels["shipyard.image"] for c in running] == [images["asgi-v2"]]


def test_a_taken_stable_port_is_one_line_and_leaves_no_restarting_proxy(
    docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    import socket

    project, env, port = docker_env
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        proc = deploy(project, env, images["asgi-v1"])
    assert_clean_failure(proc, f"127.0.0.1:{port}", "Address already in use", "is the port taken?")
    assert not docker_client.containers.list(all=True, filters={"label": f"shipyard.env={env}"})
    assert deploy(project, env, images["asgi-v1"]).returncode == 0  # once the port is free, it deploys
    assert get(port) == (200, "asgi-v1")


def _open_phases(client: Any, env: str) -> list[str]:
    from shipyard.deploy._docker_state import DockerHistory

    return [p.get("phase", "") for deploy in DockerHistory(client, env).open_deploys() for p in deploy.phases]


def _lock_age(client: Any, env: str, ttl: float) -> float:
    from shipyard.deploy._docker_state import DockerLock

    info = DockerLock(client, env, ttl).current()
    return time.time() - info.renewed if info else float("inf")


@pytest.mark.parametrize("how", ["kill-9-switched", "kill-9-drain", "SIGTERM-drain"])
def test_killed_or_stopped_after_the_switch_on_a_real_invoke_deploy(
    how: str, docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    """kill -9 right after the switch (v2 not proven): the next deploy puts v1 back and records v2 abandoned.
    kill -9 during the drain (v2 proven by its bake): v2 stays, v1 is stopped, v2 recorded abandoned (kept).
    SIGTERM during the drain: the deployer is alive and v1 still runs, so it puts v1 back (interrupted)."""
    import signal

    from .conftest import INVOKE

    project, env, port = docker_env
    ttl, drain = 8, how.endswith("drain")
    table = _table(port, bake=1 if drain else 30, timeout=6, lock_ttl=ttl, lock_heartbeat=0.5, drain_timeout=60)
    project.write({env: table})
    assert deploy(project, env, images["asgi-v1"]).returncode == 0
    (old,) = app_containers(docker_client, env)
    slow: list[tuple[int, str]] = []
    if drain:  # a request in flight on v1 holds the drain open
        threading.Thread(target=lambda: slow.append(get(port, "/slow?s=15", timeout=40)), daemon=True).start()
        time.sleep(0.5)
    proc = subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", images["asgi-v2"]],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while ("baked" if drain else "switched") not in _open_phases(docker_client, env):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the phase was never reached"
        time.sleep(0.05)
    if drain:
        time.sleep(0.5)  # inside the drain wait
    assert get(port) == (200, "asgi-v2")
    if how == "SIGTERM-drain":
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert_clean_failure(subprocess.CompletedProcess([], 130, out, err), "interrupted by", "SIGTERM")
        assert get(port) == (200, "asgi-v1")
        assert [c.id for c in app_containers(docker_client, env)] == [old.id]  # v2 removed, no orphan
        assert not docker_client.containers.list(all=True, filters={"name": f"^/shipyard-lock-{env}$"})
        history = json.loads(project.invoke("history", "--env", env, "--json").stdout)
        assert [r["result"] for r in history] == ["succeeded", "interrupted"]
        assert "drain" in str(history[-1]["reason"]) or "baked" in str(history[-1]["reason"])
        deadline = time.monotonic() + 30
        while not slow and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slow == [(200, "asgi-v1")]  # the in-flight request on v1 finished
        return
    proc.kill()
    proc.communicate(timeout=30)
    assert get(port) == (200, "asgi-v2")  # nobody can switch back until the lock is taken over
    refused = deploy(project, env, images["asgi-bad"])
    assert_clean_failure(refused, "is locked by")
    deadline = time.monotonic() + 30
    while _lock_age(docker_client, env, ttl) <= ttl + 0.5:
        assert time.monotonic() < deadline, "the dead holder's lock never went stale"
        time.sleep(0.2)
    with ProbeLoop(port, keep_alive=True, limit=90) as probe:
        after = deploy(project, env, images["asgi-bad"])  # takes the lock over, recovers, then fails its health
    assert after.returncode != 0
    assert probe.failures == []
    running = [c for c in app_containers(docker_client, env) if c.status == "running"]
    history = json.loads(project.invoke("history", "--env", env, "--json").stdout)
    results = [(r["image"], r["result"]) for r in history]
    assert results == [
        (images["asgi-v1"], "succeeded"),
        (images["asgi-v2"], "abandoned"),
        (images["asgi-bad"], "failed"),
    ]
    abandoned = history[1]
    if how == "kill-9-switched":
        assert get(port) == (200, "asgi-v1")
        assert [c.id for c in running] == [old.id]
        assert len(app_containers(docker_client, env)) == 1
        assert "'switched'" in abandoned["reason"]
        assert "switched traffic back" in abandoned["reason"]
    else:
        assert get(port) == (200, "asgi-v2")  # proven by its bake before the deployer died: kept
        assert [c.labels["shipyard.image"] for c in running] == [images["asgi-v2"]]
        assert "'baked'" in abandoned["reason"]
        assert "kept" in abandoned["reason"]


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_old_version_stops_records_what_serves(
    signame: str, docker_env: tuple[Project, str, int], images: dict[str, str], docker_client: Any
) -> None:
    """Past "stopping" (v2 proven and serving, v1 taken out and being stopped) a signal cannot undo anything: the
    deploy finishes and is recorded ``succeeded``, the signal named in its reason, never ``interrupted``."""
    import signal

    from .conftest import INVOKE

    project, env, port = docker_env
    project.write({env: _table(port, bake=1, drain_timeout=1, stop_timeout=10)})
    assert deploy(project, env, images["asgi-v1"]).returncode == 0
    (old,) = app_containers(docker_client, env)

    # a request still in flight on v1 outlives the drain: uvicorn then waits for it, so v1's stop lasts ~10 s
    # (and ends with SIGKILL, which cuts that request: what drain_timeout and stop_timeout say)
    def slow() -> None:
        with contextlib.suppress(OSError):
            get(port, "/slow?s=30", timeout=40)

    threading.Thread(target=slow, daemon=True).start()
    time.sleep(0.5)
    proc = subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", images["asgi-v2"], "--json"],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while "stopping" not in _open_phases(docker_client, env):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the phase was never reached"
        time.sleep(0.05)
    time.sleep(0.5)
    old.reload()
    assert old.status == "running"  # inside v1's stop
    proc.send_signal(getattr(signal, signame))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert result(subprocess.CompletedProcess([], 0, out, err))["result"] == "succeeded"
    assert get(port) == (200, "asgi-v2")
    old.reload()
    assert old.status == "exited"
    history = json.loads(project.invoke("history", "--env", env, "--json").stdout)
    assert [r["result"] for r in history] == ["succeeded", "succeeded"]
    assert signame in history[-1]["reason"]
    assert "too late to undo" in history[-1]["reason"]
    assert history[-1]["phase"] == "drained"
    assert not docker_client.containers.list(all=True, filters={"name": f"^/shipyard-lock-{env}$"})
