"""The deploy history on the real engine: redaction that never corrupts it, damaged entries and locks skipped by
name, forced unlocks recorded; history and rollback keep working throughout."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.deploy._docker_state import state_image
from shipyard.testing import MotoServer, free_port, remove_environment

from ._hello import get_version, hello_images, read_journal
from .conftest import Project, assert_clean_failure, unique

__all__ = ["hello_images"]

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def put_file(container: Any, path: str, data: bytes) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    container.put_archive("/", buffer.getvalue())


@pytest.fixture
def secret_env(
    project: Project, moto: MotoServer, docker_client: Any, hello_images: dict[str, str]
) -> Iterator[tuple[Project, str, int, list[str]]]:
    """An environment whose secrets are digits of every timestamp, a common word in the deployer's name, and a
    piece of the image names."""
    name, port = unique("hist"), free_port()
    secrets = {"A_DIGITS": "1796", "A_WORD": "hello", "A_PIECE": "deploy-test"}
    refs = {}
    for var, value in secrets.items():
        param = f"/{unique('p')}/{var.lower()}"
        moto.client("ssm").put_parameter(Name=param, Value=value, Type="SecureString")  # type: ignore[attr-defined]
        refs[var] = f"ssm:{param}"
    project.env.update(moto.env)
    project.write(
        {
            name: {
                "target": "docker",
                "image": "h",
                "port": port,
                "timeout": 30,
                "stop_timeout": 5,
                "health_path": "/healthz",
                "secrets": refs,
            }
        }
    )
    try:
        yield project, name, port, list(secrets.values())
    finally:
        remove_environment(docker_client, name)


def history(project: Project, env: str) -> tuple[list[dict[str, Any]], str]:
    proc = project.invoke("history", "--env", env, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_secrets_that_are_digits_words_and_image_pieces_never_corrupt_history_or_rollback(
    secret_env: tuple[Project, str, int, list[str]], hello_images: dict[str, str], docker_client: Any
) -> None:
    project, env, port, secrets = secret_env
    before = time.time()
    for version in ("v1", "v2"):
        proc = project.invoke("deploy", "--env", env, "--image", hello_images[version], "--json")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)  # the printed JSON is redacted by value, so it still parses
        assert result["image"] == hello_images[version]
    records, _ = history(project, env)
    assert [(r["image"], r["result"]) for r in records] == [
        (hello_images["v1"], "succeeded"),
        (hello_images["v2"], "succeeded"),
    ]
    for record in records:
        assert before - 1 < record["started_at"] < time.time()  # "1796..." kept whole
    # v3 fails its health check; its reason (free text) names v2, and is redacted; its image field is not
    failed = project.invoke("deploy", "--env", env, "--image", hello_images["v3"], "--json")
    assert failed.returncode == 1
    records, _ = history(project, env)
    assert records[-1]["image"] == hello_images["v3"]
    assert records[-1]["result"] == "failed"
    assert "503" in records[-1]["reason"]
    assert "hello" not in records[-1]["reason"]
    assert "deploy-test" not in records[-1]["reason"]
    stored = json.dumps(read_journal(docker_client, env))
    assert hello_images["v1"] in stored
    assert "hello" not in stored
    back = project.invoke("rollback", "--env", env, "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["image"] == hello_images["v1"]
    assert get_version(port) == "v1"
    assert str(int(time.time()))[:4] == secrets[0]  # the digits secret really is in every timestamp (until 2027)


def test_corrupt_entries_are_named_and_skipped_and_rollback_still_works(
    project: Project, docker_client: Any, hello_images: dict[str, str]
) -> None:
    env, port = unique("bad"), free_port()
    project.write(
        {
            env: {
                "target": "docker",
                "image": "h",
                "port": port,
                "timeout": 30,
                "stop_timeout": 5,
                "health_path": "/healthz",
            }
        }
    )
    try:
        for version in ("v1", "v2"):
            assert project.invoke("deploy", "--env", env, "--image", hello_images[version]).returncode == 0
        state = docker_client.containers.get(f"shipyard-state-{env}")
        # the old one-file format, with the line the old redaction corrupted and a good line before it
        legacy = {
            "deploy_id": "20250101T000000Z-00000000",
            "env": env,
            "target": "docker",
            "image": "old/app@sha256:" + "c" * 64,
            "started_at": 1735689600.0,
            "duration": 2.0,
            "result": "succeeded",
            "who": "someone",
        }
        broken = json.dumps({**legacy, "deploy_id": "x"}).replace('"started_at": 1735689600.0', '"started_at": ***689')
        put_file(state, "/state/history.jsonl", (json.dumps(legacy) + "\n" + broken + "\n").encode())
        put_file(state, "/state/journal/00000000000000000001-000000-garbage-start.json", b'{"kind": "start", "deplo')
        put_file(state, "/state/journal/00000000000000000002-000000-list-end.json", b"[1, 2]")
        put_file(
            state,
            "/state/journal/00000000000000000003-000000-types-start.json",
            b'{"kind":"start","deploy_id":"t","started_at":"yesterday"}',
        )
        records, stderr = history(project, env)
        assert [r["image"] for r in records] == [legacy["image"], hello_images["v1"], hello_images["v2"]]
        for needle in ("history.jsonl line 2", "garbage-start.json", "list-end.json", "deploy t is unreadable"):
            assert needle in stderr, stderr
        text = project.invoke("history", "--env", env)
        assert text.returncode == 0, text.stderr
        assert hello_images["v2"] in text.stdout
        back = project.invoke("rollback", "--env", env, "--json")
        assert back.returncode == 0, back.stderr
        assert json.loads(back.stdout)["image"] == hello_images["v1"]
        assert get_version(port) == "v1"
    finally:
        remove_environment(docker_client, env)


def test_an_unreadable_lock_is_named_and_unlock_removes_and_records_it(
    project: Project, docker_client: Any, hello_images: dict[str, str]
) -> None:
    env, port = unique("lk"), free_port()
    project.write({env: {"target": "docker", "image": "h", "port": port, "timeout": 30, "health_path": "/healthz"}})
    try:
        docker_client.containers.create(
            state_image(docker_client), command=["x"], name=f"shipyard-lock-{env}", labels={"shipyard.since": "soon"}
        )
        refused = project.invoke("deploy", "--env", env, "--image", hello_images["v1"])
        assert_clean_failure(refused, f"shipyard-lock-{env}", "unreadable", "invoke unlock")
        assert_clean_failure(project.invoke("unlock", "--env", env), "--reason")
        done = project.invoke(
            "unlock", "--env", env, "--reason", "stale lock after a crash", env={"SHIPYARD_DEPLOYER": "ops"}
        )
        assert done.returncode == 0, done.stderr
        assert "unlocked" in done.stdout
        again = project.invoke("unlock", "--env", env, "--reason", "again")
        assert "was not locked" in again.stdout
        assert project.invoke("deploy", "--env", env, "--image", hello_images["v1"]).returncode == 0
        records, _ = history(project, env)
        assert [(r["action"], r["result"]) for r in records] == [("unlock", "unlocked"), ("deploy", "succeeded")]
        assert records[0]["who"] == "ops"
        assert "stale lock after a crash" in records[0]["reason"]
        assert "unreadable lock" in records[0]["reason"]
    finally:
        remove_environment(docker_client, env)
