"""The deploy history and lock survive `docker container prune` and `docker system prune`, which delete every
container that is not running (the never-started state and lock containers among them).

Every prune here runs on a SECOND dockerd with its own socket and data root: on the suite's engine it would
delete other tests' (and other developers') created containers.
"""

from __future__ import annotations

import json
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

from shipyard._errors import DeployError
from shipyard.deploy._docker_state import DockerHistory, DockerLock, state_image
from shipyard.testing import free_port, require

from ._hello import get_version, hello_images, wait_for
from .conftest import INVOKE, Project, assert_clean_failure, unique
from .test_engine_restart import PROXY_IMAGE, SecondEngine, unmount_under
from .test_history import put_file

__all__ = ["hello_images"]

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TTL = 6


@pytest.fixture(scope="module")
def second(docker_client: Any, hello_images: dict[str, str]) -> Iterator[tuple[SecondEngine, Any]]:
    """A second engine holding the proxy image and hello-service v1, v2, v3 (same image ids as here)."""
    import docker
    import docker.errors

    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        require("a second dockerd needs root and dockerd on PATH")
    try:
        docker_client.images.get(PROXY_IMAGE)
    except docker.errors.ImageNotFound:
        require(f"no proxy image {PROXY_IMAGE}: run `bash ci/proxy-image.sh`")
    root = Path(tempfile.mkdtemp(prefix="jrec-dockerd-", dir="/tmp"))
    engine = SecondEngine(root)
    engine.start()
    client = docker.DockerClient(base_url=engine.host, timeout=120)
    try:
        images = [docker_client.images.get(ref) for ref in (PROXY_IMAGE, *hello_images.values())]
        for image in images:
            client.images.load(b"".join(image.save(named=True)))
        yield engine, client
    finally:
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.close()
        engine.stop()
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def env_table(project: Project, name: str) -> dict[str, Any]:
    import tomllib

    return dict(tomllib.loads((project.root / "pyproject.toml").read_text())["tool"]["shipyard"]["environments"][name])


@pytest.fixture
def env(project: Project, second: tuple[SecondEngine, Any]) -> tuple[Project, str, int, SecondEngine, Any]:
    engine, client = second
    name, port = unique("pr"), free_port()
    table = {
        "target": "docker",
        "image": "h",
        "port": port,
        "timeout": 40,
        "bake": 1,
        "stop_timeout": 5,
        "health_path": "/healthz",
        "docker_host": engine.host,
        "lock_ttl": TTL,
        "lock_heartbeat": 0.5,
    }
    project.write({name: table})
    return project, name, port, engine, client


def docker_cli(engine: SecondEngine, *args: str) -> str:
    proc = subprocess.run(
        ["docker", "-H", engine.host, *args], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def records(project: Project, env: str) -> tuple[list[dict[str, Any]], str]:
    proc = project.invoke("history", "--env", env, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return list(json.loads(proc.stdout)), proc.stderr


def state_names(client: Any, env: str) -> set[str]:
    return {c.name for c in client.containers.list(all=True, filters={"name": f"shipyard-(state|lock)-{env}"})}


@pytest.mark.parametrize(
    "prune",
    [("container", "prune", "-f"), ("system", "prune", "-f"), ("system", "prune", "-f", "--volumes")],
    ids=["container-prune", "system-prune", "system-prune-volumes"],
)
def test_history_and_rollback_survive_a_prune(
    env: tuple[Project, str, int, SecondEngine, Any], hello_images: dict[str, str], prune: tuple[str, ...]
) -> None:
    project, name, port, engine, client = env
    for version in ("v1", "v2"):
        proc = project.invoke("deploy", "--env", name, "--image", hello_images[version])
        assert proc.returncode == 0, proc.stderr
    assert get_version(port) == "v2"
    assert f"shipyard-state-{name}" in state_names(client, name)

    docker_cli(engine, *prune)
    assert f"shipyard-state-{name}" not in state_names(client, name)  # the prune did delete the container

    history, stderr = records(project, name)
    assert [(r["image"], r["result"]) for r in history] == [
        (hello_images["v1"], "succeeded"),
        (hello_images["v2"], "succeeded"),
    ], stderr
    back = project.invoke("rollback", "--env", name, "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["image"] == hello_images["v1"]
    assert get_version(port) == "v1"
    history, _ = records(project, name)
    assert [(r["action"], r["result"]) for r in history][-1] == ("rollback", "succeeded")


def test_a_state_container_from_before_the_volume_is_migrated_whole_and_then_survives_a_prune(
    env: tuple[Project, str, int, SecondEngine, Any], hello_images: dict[str, str]
) -> None:
    project, name, _port, engine, client = env
    old = client.containers.create(
        state_image(client), command=["never-started"], name=f"shipyard-state-{name}", network_mode="none"
    )
    legacy = {
        "deploy_id": "20250101T000000Z-00000000",
        "env": name,
        "target": "docker",
        "image": hello_images["v1"],
        "started_at": 1735689600.0,
        "duration": 2.0,
        "result": "succeeded",
        "who": "someone",
    }
    put_file(old, "/history.jsonl", (json.dumps(legacy) + "\n").encode())
    start = {"kind": "start", "deploy_id": "20250102T000000Z-11111111", "env": name, "target": "docker"}
    start |= {"image": hello_images["v2"], "who": "someone", "action": "deploy", "started_at": 1735776000.0}
    end = {"kind": "end", "deploy_id": start["deploy_id"], "result": "succeeded", "duration": 3.0}
    put_file(old, "/journal/00000000000000000001-000000-a-start.json", json.dumps(start).encode())
    put_file(old, "/journal/00000000000000000002-000000-a-end.json", json.dumps(end).encode())

    history, _ = records(project, name)  # the first use migrates
    expected = [("20250101T000000Z-00000000", "succeeded"), ("20250102T000000Z-11111111", "succeeded")]
    assert [(r["deploy_id"], r["result"]) for r in history] == expected
    new = client.containers.get(f"shipyard-state-{name}")
    assert new.id != old.id
    assert [m["Destination"] for m in new.attrs["Mounts"]] == ["/state"]
    assert f"shipyard-state-{name}-migrating" not in {c.name for c in client.containers.list(all=True)}

    docker_cli(engine, "container", "prune", "-f")
    history, _ = records(project, name)
    assert [(r["deploy_id"], r["result"]) for r in history] == expected
    proc = project.invoke("deploy", "--env", name, "--image", hello_images["v1"])
    assert proc.returncode == 0, proc.stderr
    assert [r["result"] for r in records(project, name)[0]] == ["succeeded"] * 3


def start_deploy(project: Project, env: str, image: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", image],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_started(client: Any, env: str, proc: subprocess.Popen[str]) -> None:
    def reached() -> bool:
        assert proc.poll() is None, proc.communicate()
        opened = DockerHistory(client, env).open_deploys()
        return any(p.get("phase") == "started" for deploy in opened for p in deploy.phases)

    wait_for(reached, 60, "phase started")


def test_a_lock_pruned_during_a_deploy_still_keeps_a_second_deployer_out(
    env: tuple[Project, str, int, SecondEngine, Any], hello_images: dict[str, str]
) -> None:
    """The lease is mirrored in the state volume: with its container pruned, a second deploy is refused naming the
    live holder, and the holder's next heartbeat creates the container again."""
    project, name, port, engine, client = env
    beat = 3.0  # the second deployer comes in well within one heartbeat of the prune
    project.write({name: {**env_table(project, name), "lock_ttl": 4 * beat, "lock_heartbeat": beat}})
    assert project.invoke("deploy", "--env", name, "--image", hello_images["v1"]).returncode == 0
    proc = start_deploy(project, name, hello_images["v3"])  # v3 never turns healthy: it sits in the health wait
    try:
        wait_started(client, name, proc)
        holder = client.containers.get(f"shipyard-lock-{name}")
        docker_cli(engine, "container", "prune", "-f")
        assert f"shipyard-lock-{name}" not in state_names(client, name)
        with pytest.raises(DeployError, match="is locked by") as refused:
            DockerLock(client, name, 4 * beat, beat).acquire("second@host")
        assert holder.labels["shipyard.holder"] in str(refused.value)
        assert "is gone" in str(refused.value)
        assert f"shipyard-lock-{name}" not in state_names(client, name)  # the refused deployer left nothing
        wait_for(lambda: f"shipyard-lock-{name}" in state_names(client, name), 10, "the holder to re-create its lock")
        again = client.containers.get(f"shipyard-lock-{name}")
        assert again.labels["shipyard.lease"] == holder.labels["shipyard.lease"]
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert get_version(port) == "v1"
    history, _ = records(project, name)
    assert [(r["image"], r["result"]) for r in history] == [
        (hello_images["v1"], "succeeded"),
        (hello_images["v3"], "interrupted"),
    ]
    assert project.invoke("deploy", "--env", name, "--image", hello_images["v2"]).returncode == 0  # lock free
    assert get_version(port) == "v2"


def test_kill_9_then_a_prune_the_dead_lease_expires_and_the_next_deploy_recovers(
    env: tuple[Project, str, int, SecondEngine, Any], hello_images: dict[str, str]
) -> None:
    project, name, port, engine, client = env
    assert project.invoke("deploy", "--env", name, "--image", hello_images["v1"]).returncode == 0
    proc = start_deploy(project, name, hello_images["v3"])
    wait_started(client, name, proc)
    proc.kill()
    proc.communicate(timeout=30)
    docker_cli(engine, "container", "prune", "-f")  # the lock and state containers go; v1, v3 and the proxy run
    refused = project.invoke("deploy", "--env", name, "--image", hello_images["v2"])
    assert_clean_failure(refused, "is locked by", "is gone")  # its heartbeat is not ttl old yet
    time.sleep(TTL + 1)
    taken = project.invoke("deploy", "--env", name, "--image", hello_images["v2"])
    assert taken.returncode == 0, taken.stderr
    assert get_version(port) == "v2"
    history, _ = records(project, name)
    assert [(r["image"], r["result"]) for r in history] == [
        (hello_images["v1"], "succeeded"),
        (hello_images["v3"], "abandoned"),
        (hello_images["v2"], "succeeded"),
    ]
    images = [
        c.labels.get("shipyard.image")
        for c in client.containers.list(all=True, filters={"label": "shipyard.env=" + name})
    ]
    assert hello_images["v3"] not in images  # the orphan is gone


def test_a_journal_volume_removed_by_hand_is_said_not_silently_an_empty_history(
    env: tuple[Project, str, int, SecondEngine, Any], hello_images: dict[str, str]
) -> None:
    project, name, _port, engine, client = env
    assert project.invoke("deploy", "--env", name, "--image", hello_images["v1"]).returncode == 0
    refused = subprocess.run(
        ["docker", "-H", engine.host, "volume", "rm", f"shipyard-state-{name}"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0  # in use: by the state container, and by the running proxy
    client.containers.get(f"shipyard-state-{name}").remove(force=True)
    client.containers.get(f"shipyard-proxy-{name}").remove(force=True)
    docker_cli(engine, "volume", "rm", f"shipyard-state-{name}")
    history, stderr = records(project, name)
    assert history == []
    assert f"shipyard-state-{name}" in stderr
    assert "lost" in stderr
    proc = project.invoke("deploy", "--env", name, "--image", hello_images["v2"])
    assert proc.returncode == 0, proc.stderr
    history, stderr = records(project, name)
    assert [(r["image"], r["result"]) for r in history] == [(hello_images["v2"], "succeeded")]
    assert "lost" in stderr  # said at every later read: the history shown is not the whole story


def test_two_deployers_migrating_the_same_old_state_container_at_once_lose_nothing(docker_client: Any) -> None:
    """On the suite's engine (no prune): both see the whole history, one container with the volume remains."""
    import threading

    from shipyard.testing import remove_environment

    name = unique("mig")
    old = docker_client.containers.create(
        state_image(docker_client), command=["never-started"], name=f"shipyard-state-{name}", network_mode="none"
    )
    try:
        for n in range(30):
            entry = {"kind": "start", "deploy_id": f"d{n:02d}", "env": name, "target": "docker", "image": "x"}
            put_file(old, f"/journal/{n:020d}-000000-d{n:02d}-start.json", json.dumps(entry).encode())
        seen: list[list[str]] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                seen.append([str(e["deploy_id"]) for e in DockerHistory(docker_client, name).entries()])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert seen == [[f"d{n:02d}" for n in range(30)]] * 3
        names = {c.name for c in docker_client.containers.list(all=True, filters={"name": f"shipyard-state-{name}"})}
        assert names == {f"shipyard-state-{name}"}
        assert len(DockerHistory(docker_client, name).entries()) == 30
    finally:
        remove_environment(docker_client, name)


def test_a_migration_cut_short_is_finished_at_the_next_use(docker_client: Any) -> None:
    """kill -9 mid-migration leaves the old container and a half-filled helper on the volume: the next use
    copies again, checks, and ends with one state container holding every entry."""
    from shipyard.testing import remove_environment

    name = unique("cut")
    old = docker_client.containers.create(
        state_image(docker_client), command=["never-started"], name=f"shipyard-state-{name}", network_mode="none"
    )
    try:
        entries = {}
        for n in range(5):
            entry = {"kind": "start", "deploy_id": f"d{n}", "env": name, "target": "docker", "image": "x"}
            path = f"journal/{n:020d}-000000-d{n}-start.json"
            entries[path] = json.dumps(entry).encode()
            put_file(old, f"/{path}", entries[path])
        docker_client.volumes.create(f"shipyard-state-{name}", labels={"shipyard.state": name})
        helper = docker_client.containers.create(
            state_image(docker_client),
            command=["never-started"],
            name=f"shipyard-state-{name}-migrating",
            labels={"shipyard.state": name, "shipyard.migrating": f"{time.time() - 60:.3f}"},  # a minute ago
            network_mode="none",
            volumes={f"shipyard-state-{name}": {"bind": "/state", "mode": "rw"}},
        )
        first = next(iter(entries))
        put_file(helper, f"/state/{first}", entries[first][:7])  # one entry copied, cut short
        assert [e["deploy_id"] for e in DockerHistory(docker_client, name).entries()] == [f"d{n}" for n in range(5)]
        names = {c.name for c in docker_client.containers.list(all=True, filters={"name": f"shipyard-state-{name}"})}
        assert names == {f"shipyard-state-{name}"}
    finally:
        remove_environment(docker_client, name)


def test_entries_an_old_deployer_writes_after_the_migration_are_kept(docker_client: Any) -> None:
    """A team upgrading one deployer at a time: the old code (before the volume) still writes its entries into
    ``/journal`` of the container named shipyard-state-<env>, which is the migrated one now. The new code shows
    them, and copies them into the volume, so they survive that container's removal (a prune) too."""
    from shipyard.testing import remove_environment

    name = unique("mix")
    old = docker_client.containers.create(
        state_image(docker_client), command=["never-started"], name=f"shipyard-state-{name}", network_mode="none"
    )
    try:
        first = {"kind": "start", "deploy_id": "d0", "env": name, "target": "docker", "image": "x"}
        put_file(old, "/journal/00000000000000000001-000000-d0-start.json", json.dumps(first).encode())
        assert [e["deploy_id"] for e in DockerHistory(docker_client, name).entries()] == ["d0"]  # migrated
        migrated = docker_client.containers.get(f"shipyard-state-{name}")
        later = {"kind": "start", "deploy_id": "d1", "env": name, "target": "docker", "image": "y"}
        # exactly what the old code's _write does: put_archive("/", journal/<entry>) into that container
        put_file(migrated, "/journal/00000000000000000002-000000-d1-start.json", json.dumps(later).encode())
        assert [e["deploy_id"] for e in DockerHistory(docker_client, name).entries()] == ["d0", "d1"]
        migrated.remove(force=True)  # what a container prune does to it
        assert [e["deploy_id"] for e in DockerHistory(docker_client, name).entries()] == ["d0", "d1"]
    finally:
        remove_environment(docker_client, name)
