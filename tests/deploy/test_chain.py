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
