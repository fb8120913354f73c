"""Building images on the real engine: hello-service end to end, layer reuse, and build failures."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.images import BuildFailed, build_image, load_image, push_image
from shipyard.testing import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
INVOKE = str(Path(sys.executable).with_name("invoke"))


def _wait_healthy(port: int, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"hello-service did not answer on 127.0.0.1:{port} within {timeout} s")
        time.sleep(0.2)


@pytest.mark.registry
def test_hello_service_builds_pushes_pulls_by_digest_and_serves(
    docker_client: Any, janitor: Any, registry: Any, python_base: str, tmp_path: Path
) -> None:
    config = dataclasses.replace(
        load_image("hello-service", REPO_ROOT), repository=f"shipyard-test/hello-{uuid.uuid4().hex[:10]}"
    )
    built = build_image(config, dist=tmp_path / "dist", build_wheel=True)
    janitor.tags += [built.id, *built.tags]
    assert built.tags[-1] == f"{config.repository}:1.0.0"
    info = docker_client.api.inspect_image(built.id)
    labels = info["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert built.revision is None or labels["org.opencontainers.image.revision"] == built.revision
    assert info["Config"]["User"] == "app"

    pushed = push_image(built, registry.address)
    janitor.tags += list(pushed.tags)
    assert pushed.reference == f"{registry.address}/{config.repository}@{pushed.digest}"
    assert pushed.digest.startswith("sha256:")
    assert len(pushed.digest) == 71

    for tag in (*built.tags, *pushed.tags):
        docker_client.images.remove(tag)
    import docker.errors

    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(pushed.reference)
    docker_client.images.pull(pushed.reference)
    janitor.tags.append(pushed.reference)

    port = free_port()
    container = docker_client.containers.run(
        pushed.reference,
        detach=True,
        network_mode="host",
        environment={"PORT": str(port)},
        name=f"shipyard-test-hello-{uuid.uuid4().hex[:8]}",
    )
    janitor.containers.append(container)
    assert _wait_healthy(port).json() == {"status": "ok"}
    version = httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()
    # The image hands the commit it was built from to the service (SHIPYARD_REVISION -> APP_REVISION).
    assert version == {"service": "hello-service", "version": "1.0.0", "revision": built.revision or "unknown"}
    # The runtime image runs as a non-root user and carries no installer, wheelhouse or build directory.
    assert container.exec_run(["id", "-u"]).output.decode().strip() == "10001"
    leftovers = container.exec_run(["sh", "-c", "ls /build /opt/pip /opt/venv/bin/pip /root/.cache/pip"])
    assert leftovers.exit_code != 0, leftovers.output


def test_a_source_change_rebuilds_only_the_last_layer(
    docker_client: Any, janitor: Any, python_base: str, hello_workspace: Path
) -> None:
    config = dataclasses.replace(
        load_image("hello-service", hello_workspace), repository=f"shipyard-test/hello-{uuid.uuid4().hex[:10]}"
    )
    first = build_image(config, build_wheel=True)
    janitor.tags += [first.id, *first.tags]
    app = hello_workspace / "examples" / "hello-service" / "src" / "hello_service" / "app.py"
    app.write_text(app.read_text() + f"# a one-line change {uuid.uuid4().hex}\n")
    second = build_image(config, build_wheel=True)
    janitor.tags += [second.id, *second.tags]

    assert second.id != first.id
    layers = [docker_client.api.inspect_image(image.id)["RootFS"]["Layers"] for image in (first, second)]
    assert layers[0][:-1] == layers[1][:-1], "only the last layer may differ"
    assert layers[0][-1] != layers[1][-1]
    by_text = {step.instruction: step for step in second.steps}
    dependency_install = next(text for text in by_text if "-r /build/requirements.txt" in text)
    assert by_text[dependency_install].cached
    assert not next(step for text, step in by_text.items() if "app-requirements.txt" in text and "RUN" in text).cached


def test_a_failing_run_step_raises_with_the_step_and_the_log_tail(tiny_project: Any, janitor: Any) -> None:
    root = tiny_project("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo about-to-fail && false\n")
    config = load_image("tiny", root)
    with pytest.raises(BuildFailed) as caught:
        build_image(config)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(r"^image tiny: build failed at step 3/\d+ \(RUN echo about-to-fail && false\)", message)
    assert "returned a non-zero code: 1" in message
    assert "about-to-fail" in message
    assert any("about-to-fail" in line for line in caught.value.log_tail)


def test_a_dockerfile_syntax_error_raises_a_clear_error(tiny_project: Any) -> None:
    root = tiny_project("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nFROBNICATE the build\n")
    with pytest.raises(BuildFailed) as caught:
        build_image(load_image("tiny", root))
    message = str(caught.value)
    assert "\n" not in message
    assert "image tiny: build failed" in message
    assert "unknown instruction: FROBNICATE" in message


def _invoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    return subprocess.run(
        [INVOKE, *args], cwd=root, capture_output=True, text=True, timeout=300, check=False, env=_env()
    )


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "CI": "true"}


def test_invoke_image_build_failure_is_one_line_without_traceback(tiny_project: Any) -> None:
    root = tiny_project("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN false\n")
    result = _invoke(root, "image.build")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("invoke: error:")]
    assert len(errors) == 1
    assert re.fullmatch(
        r"invoke: error: image tiny: build failed at step 3/\d+ \(RUN false\): "
        r"The command '/bin/sh -c false' returned a non-zero code: 1",
        errors[0],
    )


def test_invoke_image_build_json_prints_the_image(tiny_project: Any, janitor: Any) -> None:
    root = tiny_project()
    result = _invoke(root, "image.build", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    janitor.tags += [data["id"], *data["tags"]]
    assert set(data) == {"name", "image", "tags", "id", "digest"}
    assert data["tags"] == [f"{data['image']}:0.1.0"]
    assert data["digest"] is None
    assert re.search(r"^\[tiny\] Step 3/\d+: COPY artifacts/app/ /app/$", result.stderr, re.MULTILINE)
