"""Shipyard's pytest plugin (the ``pytest11`` entry point ``shipyard``): fixtures to test your own pipeline
stages and deploy configuration against real parts.

- ``shipyard_registry``: a local registry (CNCF distribution) on a free loopback port, for the test session.
- ``shipyard_fault_proxy``: a factory, ``shipyard_fault_proxy("127.0.0.1:PORT", fail_rate=0.3)``, of HTTP proxies
  that fail a share of requests (503 or a dropped connection); stopped after the test.
- ``shipyard_moto``: a moto server, with ``AWS_ENDPOINT_URL`` and dummy credentials set for the test.
- ``shipyard_project``: a factory of temporary uv projects (``shipyard.testing.make_project``).
- ``shipyard_pipeline``: runs a ``Pipeline`` and returns its stage order, outputs and report.

A part that is missing (no ``docker-registry`` binary, no moto) skips the test, or fails it under CI
(``shipyard.testing.require``). Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from shipyard.testing._parts import require

if TYPE_CHECKING:
    from shipyard.testing import FaultProxy, LocalRegistry, MotoServer, PipelineRunner, Project

__all__ = [
    "shipyard_fault_proxy",
    "shipyard_moto",
    "shipyard_pipeline",
    "shipyard_project",
    "shipyard_registry",
]


@pytest.fixture(scope="session")
def shipyard_registry() -> Iterator[LocalRegistry]:
    """A running local registry; push to ``shipyard_registry.address``."""
    from shipyard.testing._docker import REGISTRY_BINARY, LocalRegistry

    if shutil.which(REGISTRY_BINARY) is None:
        require(f"no {REGISTRY_BINARY} binary on PATH: install it (Debian: docker-registry)")
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture
def shipyard_fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory of started fault-injecting proxies in front of ``upstream`` ("host:port"); all stopped after."""
    from shipyard.testing._docker import FaultProxy

    started: list[FaultProxy] = []

    def make(upstream: str, **options: Any) -> FaultProxy:
        proxy = FaultProxy(upstream, **options).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def _shipyard_moto_server() -> Iterator[MotoServer]:
    try:
        from shipyard.testing._aws import moto_server

        server = moto_server()
        running = server.__enter__()
    except ImportError as exc:
        require(f'moto[server] is not installed ({exc}); add it: uv add --group test "moto[server]"')
    try:
        yield running
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def shipyard_moto(_shipyard_moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The moto server, with boto3's endpoint, region and dummy credentials in the environment for this test."""
    for name, value in _shipyard_moto_server.env.items():
        monkeypatch.setenv(name, value)
    return _shipyard_moto_server


@pytest.fixture
def shipyard_project(tmp_path: Path) -> Callable[..., Project]:
    """Factory: ``shipyard_project(groups={...}, sessions={...})`` -> a ``Project`` under a temporary directory."""
    from shipyard.testing._projects import make_project

    count = iter(range(1_000_000))

    def make(**kwargs: Any) -> Project:
        return make_project(tmp_path / f"project-{next(count)}", **kwargs)

    return make


@pytest.fixture
def shipyard_pipeline(tmp_path: Path) -> PipelineRunner:
    """``shipyard_pipeline(pipeline)`` -> a ``PipelineRun``: ``.order``, ``.outputs(stage)``, ``.lines(stage)``."""
    from shipyard.testing import PipelineRunner

    return PipelineRunner(tmp_path / "pipeline")
