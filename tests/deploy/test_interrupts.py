"""SIGINT, SIGTERM and kill -9 of a real `invoke deploy` process on the real engine, at each phase it has.

After SIGINT/SIGTERM: exit 130, the old version serving, no container of the stopped deploy, the lock free, and
the history ending ``interrupted``. After kill -9: the lock stays until its heartbeat is ``lock_ttl`` old (a deploy
before that is refused, naming the dead holder); the next deploy then removes what the dead one left, records it
``abandoned`` and goes on.

Phases covered: "lock" (the lock is taken, nothing started), "started" (the new container is up and being health
checked; v3 never turns healthy, so the deploy sits there). The docker target's later phases (bake, drain) are
added to ``PHASES`` when the target reports them.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.deploy._docker_state import DockerHistory
from shipyard.testing import free_port, remove_environment

from ._hello import get_version, hello_images, wait_for
from .conftest import INVOKE, Project, assert_clean_failure, unique

__all__ = ["hello_images"]

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PHASES = ["lock", "started"]
TTL = 8


@pytest.fixture
def env(project: Project, docker_client: Any, hello_images: dict[str, str]) -> Iterator[tuple[Project, str, int]]:
    """An environment serving v1."""
    name, port = unique("int"), free_port()
    table = {
        "target": "docker",
        "image": "h",
        "port": port,
        "timeout": 40,
        "stop_timeout": 5,
        "health_path": "/healthz",
    }
    project.write({name: {**table, "lock_ttl": TTL, "lock_heartbeat": 0.5}})
    try:
        first = project.invoke("deploy", "--env", name, "--image", hello_images["v1"])
        assert first.returncode == 0, first.stderr
        assert get_version(port) == "v1"
        yield project, name, port
    finally:
        remove_environment(docker_client, name)


def start_deploy(project: Project, env: str, image: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", image],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_phase(docker_client: Any, env: str, phase: str, proc: subprocess.Popen[str]) -> None:
    def reached() -> bool:
        assert proc.poll() is None, proc.communicate()
        if phase == "lock":
            return bool(docker_client.containers.list(all=True, filters={"name": f"^/shipyard-lock-{env}$"}))
        opened = DockerHistory(docker_client, env).open_deploys()
        return any(p.get("phase") == phase for deploy in opened for p in deploy.phases)

    wait_for(reached, 60, f"phase {phase}")


def containers(docker_client: Any, env: str) -> list[dict[str, Any]]:
    """The environment's service containers (running or kept stopped for rollback), as the engine lists them."""
    found = docker_client.api.containers(all=True, filters={"label": [f"shipyard.env={env}", "shipyard.role=service"]})
    return [
        {"image": c["Labels"]["shipyard.image"], "deploy_id": c["Labels"]["shipyard.deploy-id"], "state": c["State"]}
        for c in found
    ]


def running_images(docker_client: Any, env: str) -> list[str]:
    return [c["image"] for c in containers(docker_client, env) if c["state"] == "running"]


def records(project: Project, env: str) -> list[dict[str, Any]]:
    proc = project.invoke("history", "--env", env, "--json")
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_deploy_and_leaves_the_old_version(
    env: tuple[Project, str, int], hello_images: dict[str, str], docker_client: Any, phase: str, signum: int
) -> None:
    project, name, port = env
    proc = start_deploy(project, name, hello_images["v3"])
    wait_phase(docker_client, name, phase, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert_clean_failure(subprocess.CompletedProcess([], 130, out, err), "interrupted by", signal.Signals(signum).name)
    assert get_version(port) == "v1"
    assert running_images(docker_client, name) == [hello_images["v1"]]  # v1 untouched
    assert not docker_client.containers.list(all=True, filters={"name": f"^/shipyard-lock-{name}$"})
    history = records(project, name)
    assert [(r["image"], r["result"]) for r in history] == [
        (hello_images["v1"], "succeeded"),
        (hello_images["v3"], "interrupted"),
    ]
    assert not [c for c in containers(docker_client, name) if c["deploy_id"] == history[-1]["deploy_id"]]  # no orphan
    assert signal.Signals(signum).name in history[-1]["reason"]
    # the environment is usable at once: the next deploy needs no unlock and no waiting
    again = project.invoke("deploy", "--env", name, "--image", hello_images["v2"])
    assert again.returncode == 0, again.stderr
    assert get_version(port) == "v2"


@pytest.mark.parametrize("phase", PHASES)
def test_kill_9_is_found_by_the_next_deploy_which_cleans_up_and_records_it(
    env: tuple[Project, str, int], hello_images: dict[str, str], docker_client: Any, phase: str
) -> None:
    project, name, port = env
    proc = start_deploy(project, name, hello_images["v3"])
    wait_phase(docker_client, name, phase, proc)
    proc.kill()
    proc.communicate(timeout=30)
    # v1 is untouched. (With the SO_REUSEPORT target, a v3 orphan left by kill -9 shares the port until cleaned up.)
    assert hello_images["v1"] in running_images(docker_client, name)
    holder = docker_client.containers.get(f"shipyard-lock-{name}").labels["shipyard.holder"]
    refused = project.invoke("deploy", "--env", name, "--image", hello_images["v2"])
    assert_clean_failure(refused, "is locked by", holder)  # its heartbeat is not ttl old yet

    wait_for(lambda: _lock_age(docker_client, name) > TTL + 0.5, 30, "the dead holder's lease to go stale")
    taken = project.invoke("deploy", "--env", name, "--image", hello_images["v2"], "--json")
    assert taken.returncode == 0, taken.stderr
    assert get_version(port) == "v2"
    assert running_images(docker_client, name) == [hello_images["v2"]]
    assert hello_images["v3"] not in [c["image"] for c in containers(docker_client, name)]  # the orphan is gone
    history = records(project, name)
    results = [(r["image"], r["result"]) for r in history]
    if phase == "lock" and len(results) == 2:  # killed before it wrote its start record: nothing to abandon
        assert results == [(hello_images["v1"], "succeeded"), (hello_images["v2"], "succeeded")]
        return
    assert results == [
        (hello_images["v1"], "succeeded"),
        (hello_images["v3"], "abandoned"),
        (hello_images["v2"], "succeeded"),
    ]
    assert "never came back" in history[1]["reason"]
    if phase == "started":
        assert "removed" in history[1]["reason"]  # what the target did, in its words
    assert json.loads(taken.stdout)["details"]["recovered"]


def _lock_age(docker_client: Any, env: str) -> float:
    import time

    from shipyard.deploy._docker_state import DockerLock

    info = DockerLock(docker_client, env, TTL).current()
    return time.time() - info.renewed if info else float("inf")
