"""Shared pieces of the flow tests: hello-service images (v1, v2, v3 never healthy) and journal readers."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shipyard.deploy._docker_state import DockerHistory
from shipyard.testing import require

from ._images import build_versions, remove_images

__all__ = ["get_version", "hello_images", "read_journal", "wait_for"]

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def hello_images(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
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


def read_journal(docker_client: Any, env: str) -> list[dict[str, Any]]:
    return DockerHistory(docker_client, env).entries()


def get_version(port: int) -> str:
    """The revision the stable port answers with, or why it does not answer."""
    try:
        with OPENER.open(f"http://127.0.0.1:{port}/version", timeout=3) as response:
            return str(json.loads(response.read())["revision"])
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return f"no answer: {exc}"


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
