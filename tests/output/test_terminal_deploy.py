"""A real deploy in a real terminal: ``invoke deploy``'s chain (build, push to a test registry, deploy to the
local engine, verify) under ``TERM=xterm`` in tmux shows one live table at the end, every log line above it."""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing import LocalRegistry, free_port, remove_environment, require

from ._terminal import Terminal, demo_env

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("deploy_run.py")


def test_a_deploy_in_a_terminal_draws_one_table_below_its_log_lines(docker_client: Any, terminal: Terminal) -> None:
    import docker.errors

    try:
        docker_client.images.get("shipyard/python-base:bookworm")
    except docker.errors.ImageNotFound:
        require("no shipyard/python-base:bookworm image: run `bash ci/base-image.sh`")
    name, port = f"tty-{uuid.uuid4().hex[:8]}", free_port()
    with LocalRegistry() as registry:
        try:
            screen = terminal.run(
                ["env", "-C", str(ROOT), sys.executable, str(DRIVER), name, str(port), registry.address],
                demo_env(TERM="xterm", SOURCE_DATE_EPOCH="1764000000"),
                timeout=420,
            ).splitlines()
        finally:
            remove_environment(docker_client, name)
    text = "\n".join(screen)
    assert "EXIT=0" in screen, text
    headers = [
        i for i, line in enumerate(screen) if re.match(r"^┃ stage +┃ state +┃ elapsed ┃ cache +┃ progress", line)
    ]
    assert len(headers) == 1, text
    assert sum(line.strip() == f"pipeline deploy-{name}" for line in screen) == 1, text
    table = screen[headers[0] :]
    for stage in ("image", "push", "deploy", "verify"):
        assert any(re.match(rf"^│ {stage} +│ passed ", line) for line in table), text
    logged = screen[: headers[0] - 2]
    assert any(re.search(r" image +\S+ +step \d+/\d+ FROM ", line) for line in logged), text
    assert any(
        re.search(r" image +\S+ +pushed 127\.0\.0\.1:\d+/shipyard/hello-service@sha256:", line) for line in logged
    ), text
    assert any(re.match(rf"^\d\d:\d\d:\d\d deploy +{name} ", line) for line in logged), text
    assert not any("[info" in line for line in screen), text  # every line rendered by the one output layer
    assert any(line.startswith(f"succeeded: {name} (docker) ") for line in screen), text
