"""Deploy leases on the real Docker engine and on a real moto S3 server: renewed while held, stale only when their
holder stopped renewing, released only by their holder.

Moto behaviour relied on (moto 5.2.x ``moto/s3/responses.py``): ``PutObject`` honours ``If-None-Match: *`` and
``If-Match`` (412 PreconditionFailed), and ``DeleteObject`` honours ``If-Match``, like S3. Moto checks and writes
in two steps without a lock, so two truly simultaneous conditional writes are not a race it can referee: these
tests interleave the deployers one step at a time instead of racing them.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard._errors import DeployError
from shipyard.deploy._docker_state import DockerLock
from shipyard.deploy._lease import Lease
from shipyard.deploy._s3_state import S3Lock
from shipyard.testing import MotoServer, free_port, remove_environment

from ._hello import hello_images, read_journal
from .conftest import INVOKE, Project, assert_clean_failure, unique

__all__ = ["hello_images"]

TTL, BEAT = 2.0, 0.3


@pytest.fixture(params=["docker", "s3"])
def make_lease(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of leases on one environment, for the docker engine or moto's S3."""
    env = unique("lk")
    if request.param == "docker":
        client = request.getfixturevalue("docker_client")

        def make(ttl: float = TTL, heartbeat: float = BEAT) -> Lease:
            return DockerLock(client, env, ttl, heartbeat)

        try:
            yield make
        finally:
            remove_environment(client, env)
    else:
        moto: MotoServer = request.getfixturevalue("moto")
        s3: Any = moto.client("s3")
        bucket = unique("locks")
        s3.create_bucket(Bucket=bucket)

        def make(ttl: float = TTL, heartbeat: float = BEAT) -> Lease:
            return S3Lock(s3, bucket, env, ttl, heartbeat)

        yield make


def test_a_held_lease_outlives_its_ttl_and_refuses_others_naming_the_holder(make_lease: Any) -> None:
    first = make_lease()
    first.acquire("alice@ci (deploy 1)")
    try:
        time.sleep(TTL * 2.5)  # far past the ttl: only the heartbeat keeps it
        with pytest.raises(DeployError, match=r"locked by alice@ci \(deploy 1\)"):
            make_lease().acquire("bob@laptop (deploy 2)")
        first.check()  # still ours
    finally:
        first.release()
    second = make_lease()
    second.acquire("bob@laptop (deploy 2)")  # free after release
    second.release()


def test_a_lease_whose_holder_stopped_renewing_is_taken_over(make_lease: Any) -> None:
    dead = make_lease()
    dead.acquire("dead@host (deploy 1)")
    dead_token = dead._token
    dead._stop.set()  # the holder stops renewing (as if killed -9)
    assert dead._thread is not None
    dead._thread.join()
    with pytest.raises(DeployError, match="locked by dead@host"):
        make_lease().acquire("early@host")  # not stale yet
    time.sleep(TTL + 0.5)
    alive = make_lease()
    alive.acquire("alive@host (deploy 2)")
    try:
        # The old holder comes back: it can neither delete nor renew the new holder's lease.
        dead.release()
        assert alive.current() is not None
        assert alive.current().holder == "alive@host (deploy 2)"  # type: ignore[union-attr]
        assert dead.backend.renew(dead_token, dead.lease, time.time()) is None
        with pytest.raises(DeployError, match="locked by alive@host"):
            make_lease().acquire("third@host")
    finally:
        alive.release()
    assert alive.current() is None


def test_release_by_a_non_holder_deletes_nothing(make_lease: Any) -> None:
    holder = make_lease()
    holder.acquire("holder@host")
    try:
        stranger = make_lease()
        stranger.release()  # never acquired: nothing to release
        wrong = "0" * 64 if isinstance(holder, DockerLock) else '"0123456789abcdef0123456789abcdef"'
        assert stranger.backend.delete(wrong) is False  # compare-and-delete with a token that is not the lease's
        current = stranger.current()
        assert current is not None
        assert current.holder == "holder@host"
        holder.check()
    finally:
        holder.release()
    assert holder.current() is None


def test_a_renewal_that_finds_the_lease_taken_over_marks_it_lost(make_lease: Any) -> None:
    lease = make_lease(ttl=TTL, heartbeat=BEAT)
    lease.acquire("slow@host")
    info = lease.current()
    assert info is not None
    lease.backend.delete(info.token)  # someone removed it (invoke unlock)
    other = make_lease()
    other.acquire("other@host")
    try:
        time.sleep(BEAT * 4)
        with pytest.raises(DeployError, match="lost the deploy lock"):
            lease.check()
        lease.release()
        assert other.current().holder == "other@host"  # type: ignore[union-attr]
    finally:
        other.release()


def test_lock_ttl_shorter_than_three_heartbeats_is_a_one_line_error(project: Project) -> None:
    project.write({"e": {"target": "docker", "image": "a", "port": 1, "lock_ttl": 5, "lock_heartbeat": 2}})
    assert_clean_failure(project.invoke("status", "--env", "e"), "environments.e.lock_ttl", "3 heartbeats")
    project.write({"e": {"target": "docker", "image": "a", "port": 1, "lock_heartbeat": 0}})
    assert_clean_failure(project.invoke("status", "--env", "e"), "environments.e.lock_heartbeat", "positive")


@pytest.mark.docker
@pytest.mark.slow
def test_a_deploy_longer_than_lock_ttl_keeps_its_lock(
    project: Project, hello_images: dict[str, str], docker_client: Any
) -> None:
    """v3 never turns healthy, so the first deploy works for its whole 12 s timeout, four times lock_ttl: a
    second deploy at 9 s is refused naming it, and the first still ends with its own record."""
    env, port = unique("long"), free_port()
    project.write(
        {
            env: {
                "target": "docker",
                "image": "h",
                "port": port,
                "timeout": 12,
                "lock_ttl": 3,
                "lock_heartbeat": 0.5,
                "health_path": "/healthz",
            }
        }
    )
    first = subprocess.Popen(
        [INVOKE, "deploy", "--env", env, "--image", hello_images["v3"]],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(9)
        assert first.poll() is None, first.communicate()
        second = project.invoke("deploy", "--env", env, "--image", hello_images["v1"])
        assert_clean_failure(second, "is locked by", "(deploy ")  # the holder names the first deploy's id
        _out, err = first.communicate(timeout=60)
        assert first.returncode == 1, err
        assert "never turned healthy" in err
        entries = read_journal(docker_client, env)
        ends = [e for e in entries if e["kind"] == "end"]
        assert [e["result"] for e in ends] == ["failed"]
        assert not docker_client.containers.list(all=True, filters={"name": f"^/shipyard-lock-{env}$"})
        hist = json.loads(project.invoke("history", "--env", env, "--json").stdout)
        assert [r["result"] for r in hist] == ["failed"]
    finally:
        if first.poll() is None:
            first.kill()
        remove_environment(docker_client, env)


def test_the_shipped_environments_validate_and_renew_well_within_their_ttl() -> None:
    """The repository's own pyproject: production's 1200 s timeout is longer than its lock_ttl, which is fine now
    that a deploy renews its lease; what must hold is a ttl of several heartbeats."""
    from pathlib import Path

    from shipyard.deploy import load_environments

    envs = load_environments(Path(__file__).resolve().parents[2])
    assert envs["production"].timeout > envs["production"].lock_ttl
    for env in envs.values():
        assert env.lock_ttl >= 3 * env.lock_heartbeat, env.name
