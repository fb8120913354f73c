"""The whole chain on the real engine and a real registry: build -> push -> deploy -> verify.

A second run with nothing changed finds the same digest in the registry and skips the push. Builds are made
reproducible with ``SOURCE_DATE_EPOCH`` (the image's `created` label), as they are on a clean checkout.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.deploy import get_environment
from shipyard.deploy._chain import deploy_chain
from shipyard.testing import LocalRegistry, free_port, remove_environment, require

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def stage_summaries(env: str) -> dict[str, str]:
    """Each stage's summary from the newest run report of ``deploy-<env>``."""
    reports = sorted((ROOT / ".shipyard" / "runs").glob(f"*-deploy-{env}-*.json"), key=lambda p: p.stat().st_mtime)
    data = json.loads(reports[-1].read_text())
    return {stage["name"]: stage["summary"] for stage in data["stages"]}


def test_the_chain_deploys_by_digest_and_a_rerun_skips_the_push(
    docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker.errors

    try:
        docker_client.images.get("shipyard/python-base:bookworm")
    except docker.errors.ImageNotFound:
        require("no shipyard/python-base:bookworm image: run `bash ci/base-image.sh`")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764000000")
    name, port = f"chain-{uuid.uuid4().hex[:8]}", free_port()
    local = get_environment("local", ROOT)
    with LocalRegistry() as registry:
        env = dataclasses.replace(
            local, name=name, registry=registry.address, settings={**local.settings, "port": port}
        )
        try:
            first = deploy_chain(env)
            assert first.ok, first.reason
            assert first.image.startswith(f"{registry.address}/shipyard/hello-service@sha256:")
            summaries = stage_summaries(name)
            assert summaries["push"] == f"pushed {first.image}"
            assert summaries["verify"] == f"{name} serves {first.image}"
            body = httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()
            assert body["service"] == "hello-service"
            assert body["version"] == "1.0.0"

            second = deploy_chain(env)
            assert second.ok, second.reason
            assert second.image == first.image
            assert stage_summaries(name)["push"] == f"{first.image} already in the registry: push skipped"
        finally:
            remove_environment(docker_client, name)
            for image in docker_client.images.list(name=f"{registry.address}/shipyard/hello-service"):
                for tag in image.tags:
                    docker_client.images.remove(tag)


CHAIN = """
import dataclasses, sys
from pathlib import Path
from shipyard._cli import Exit, handle_errors
from shipyard.deploy import get_environment
from shipyard.deploy._chain import deploy_chain

name, registry, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
local = get_environment("local", Path.cwd())
env = dataclasses.replace(
    local, name=name, registry=registry, settings={**local.settings, "port": port},
    env={**local.env, "APP_FAIL_HEALTH": "1"}, timeout=90,
)
try:
    with handle_errors("chain"):
        deploy_chain(env)
except Exit as exc:
    sys.exit(exc.code)
"""


def test_sigint_during_the_chains_health_check_stops_the_deploy_before_any_swap(
    docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy stage runs in a worker thread: the pipeline's SIGINT must reach it. The second version never
    turns healthy (APP_FAIL_HEALTH), so without the stop it would sit in its 90 s health check; with it, the run
    ends at once, the new container is gone, v1 still answers and the history says ``interrupted``."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from shipyard.deploy._docker_state import DockerHistory

    try:
        docker_client.images.get("shipyard/python-base:bookworm")
    except docker_errors().ImageNotFound:
        require("no shipyard/python-base:bookworm image: run `bash ci/base-image.sh`")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764000000")
    name, port = f"chainint-{uuid.uuid4().hex[:8]}", free_port()
    local = get_environment("local", ROOT)
    with LocalRegistry() as registry:
        env = dataclasses.replace(
            local, name=name, registry=registry.address, settings={**local.settings, "port": port}
        )
        try:
            first = deploy_chain(env)
            assert first.ok, first.reason
            proc = subprocess.Popen(
                [sys.executable, "-c", CHAIN, name, registry.address, str(port)],
                cwd=ROOT,
                env={**os.environ, "CI": "true", "SOURCE_DATE_EPOCH": "1764000000"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            journal = DockerHistory(docker_client, name)
            deadline = time.monotonic() + 240
            while not any(p.get("phase") == "started" for d in journal.open_deploys() for p in d.phases):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the chain never started the new container"
                time.sleep(0.1)
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=60)
            assert time.monotonic() - stopped_at < 30, "the deploy went on after the interrupt"
            assert proc.returncode == 130, err
            records = journal.records()
            assert [r.result for r in records] == ["succeeded", "interrupted"]
            services = docker_client.api.containers(
                all=True, filters={"label": [f"shipyard.env={name}", "shipyard.role=service"]}
            )
            assert [c["Labels"]["shipyard.deploy-id"] for c in services] == [first.deploy_id]  # no orphan
            assert services[0]["State"] == "running"
            body = httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()
            assert body["service"] == "hello-service"
            assert not docker_client.containers.list(all=True, filters={"name": f"^/shipyard-lock-{name}$"})
        finally:
            remove_environment(docker_client, name)
            for image in docker_client.images.list(name=f"{registry.address}/shipyard/hello-service"):
                for tag in image.tags:
                    docker_client.images.remove(tag)


def docker_errors() -> Any:
    import docker.errors

    return docker.errors


def test_a_cancelled_build_stage_stops_the_build_at_its_next_output_line(docker_client: Any, tmp_path: Path) -> None:
    """What the chain's image stage does on SIGINT: the pipeline cancels the stage, the stage trips the chain's
    stop flag, and the build (in its worker thread) raises at its next line of output instead of running on."""
    import asyncio
    import io
    import subprocess
    import tarfile
    import time

    from shipyard._errors import DeployInterrupted
    from shipyard.deploy._chain import run_interruptible, stoppable_client
    from shipyard.deploy._interrupt import Interrupts
    from shipyard.images import build_image, load_image

    base = f"shipyard-test/busybox:{uuid.uuid4().hex[:12]}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dockerfile = b'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        for name, data, mode in (
            ("Dockerfile", dockerfile, 0o644),
            ("busybox", Path("/bin/busybox").read_bytes(), 0o755),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    for line in docker_client.api.build(
        fileobj=buffer, custom_context=True, tag=base, network_mode="none", decode=True
    ):
        assert "error" not in line, line
    repository = f"shipyard-test/slow-{uuid.uuid4().hex[:10]}"
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "slow-app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = []\n\n'
        f'[tool.shipyard.images.slow]\ncontext = "image"\npackage = "slow-app"\nrepository = "{repository}"\n'
        f'build-args = {{ BASE_IMAGE = "{base}" }}\n'
    )
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        f"RUN echo {uuid.uuid4().hex}; for i in $(seq 1 120); do echo tick $i; sleep 0.25; done\n"
    )
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "slow_app-0.1.0-py3-none-any.whl").write_bytes(uuid.uuid4().bytes)
    subprocess.run(["uv", "lock", "--quiet"], cwd=tmp_path, check=True)
    config = load_image("slow", tmp_path)
    stop, seen = Interrupts(), []

    client = stoppable_client()

    def on_event(event: Any) -> None:  # what the chain's image stage passes
        seen.append(event.text)
        if stop.tripped:
            client.abort_streams()
            stop.check()

    async def main() -> float:
        task = asyncio.create_task(run_interruptible(stop, build_image, config, client=client, on_event=on_event))
        deadline = time.monotonic() + 120
        while not any("tick 3" in text for text in seen):
            assert not task.done(), task
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - cancelled_at

    try:
        waited = asyncio.run(main())
        assert waited < 5, f"the build ran on for {waited:.1f} s after the stop"  # the RUN step alone takes 30 s
        assert not any("tick 60" in text for text in seen)
        assert not docker_client.images.list(name=repository)  # never finished, never tagged
        assert stop.tripped
        with pytest.raises(DeployInterrupted):
            stop.check()

        # the engine cancelled the build: its RUN container is gone (not running on for the remaining ~30 s)
        def building() -> list[Any]:
            return [c for c in docker_client.api.containers() if "tick" in str(c.get("Command", ""))]

        deadline = time.monotonic() + 10
        while building():
            assert time.monotonic() < deadline, "the engine went on building after the stream was closed"
            time.sleep(0.2)
    finally:
        client.close()
        for image in docker_client.images.list(name=repository):
            for tag in image.tags:
                docker_client.images.remove(tag)
        docker_client.images.remove(base, force=True)
