"""Fixtures shared by the whole suite.

Tests that need a real part (Docker engine, registry, moto server) ask for it through a fixture. Off CI a
missing part skips the test with the reason; under CI (``CI`` set) it fails, so a broken machine never passes
as green.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard._secrets import registry


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


def require(reason: str) -> None:
    """Skip off CI, fail under CI: a test's real part is missing."""
    if in_ci():
        pytest.fail(f"{reason} (CI must provide it: see ci/bootstrap.sh)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker-py client for the local engine (``DOCKER_HOST`` or the default socket)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        require(f"no Docker engine reachable ({type(exc).__name__}: {exc})")
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Secrets registered by one test must not mask another test's output."""
    yield
    registry.clear()
