"""Fixtures shared by the whole suite.

Tests that need a real part (Docker engine, registry, moto server) ask for it through a fixture. Off CI a
missing part skips the test with the reason; under CI (``CI`` set) it fails, so a broken machine never passes
as green.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shipyard._secrets import registry
from shipyard.testing import require


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
