"""Adoption end to end: `shipyard init` with no other edit, then the two commands it prints, on real uv, nox,
Docker and a registry of the test's own.

The deploy runs the docker target (HAProxy in front, each version on its own private $PORT on 127.0.0.1, health
checked on `health_path`): the generated command serves $PORT and nothing else.
"""

from __future__ import annotations

import contextlib
import time
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from shipyard import _command
from shipyard.testing import LocalRegistry, free_port, remove_environment

from .conftest import Fixture, clean_env

pytestmark = [pytest.mark.slow]


@pytest.fixture
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as running:
        yield running


def _get(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.parametrize("name", ["flask_app", "fastapi_app", "library", "no_deps", "existing"])
def test_init_then_the_tests_session_passes(fixture_project: Callable[[str], Fixture], name: str) -> None:
    project = fixture_project(name)
    result = project.init()
    assert result.returncode == 0, result.output
    tests = project.uv_run("nox", "-s", "tests")
    assert tests.returncode == 0, tests.output[-3000:]
    assert "passed" in tests.output or "OK" in tests.output
    if name != "existing":  # every other session init wrote passes too, on code it has never seen
        others = ["lint", "build", "lock", *(["typecheck"] if name == "library" else [])]
        rest = project.uv_run("nox", "-s", *others)
        assert rest.returncode == 0, rest.output[-3000:]
    if name != "existing":  # init put Shipyard in the test group: its pytest plugin's fixtures are there
        (venv,) = (project.root / ".nox").glob("tests*")
        listed = _command.run([str(venv / "bin" / "python"), "-m", "pytest", "--fixtures", "-q"], cwd=project.root,
                              env=clean_env(), inherit_env=False, check=False)  # fmt: skip
        assert "shipyard_pipeline" in listed.output, listed.output[-2000:]
    before = project.snapshot()
    again = project.init()
    assert again.returncode == 0, again.output
    assert "nothing to change" in again.output
    assert project.snapshot() == before
    if name == "library":  # classifiers name 3.11-3.13: every one found here runs, the others are named
        assert "tests-3.11" in tests.output
        assert "no interpreter found for Python" in tests.output or "tests-3.12" in tests.output


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.parametrize(
    ("name", "answer"),
    [("flask_app", "flaskr visits: "), ("fastapi_app", '{"service":"inventory"}'), ("no_deps", "plain hello")],
)
def test_init_then_a_local_deploy_answers_over_http(
    fixture_project: Callable[[str], Fixture],
    registry: LocalRegistry,
    docker_client: Any,
    name: str,
    answer: str,
) -> None:
    project = fixture_project(name)
    port = free_port()
    env = f"adopt-{port}"  # unique on the shared engine: the docker target tells environments apart by name
    result = project.init("--registry", registry.address, "--port", str(port), "--env", env)
    assert f"uv run --locked invoke deploy --env {env}" in result.output
    assert result.returncode == 0, result.output
    image = tomllib.loads((project.root / "pyproject.toml").read_text())["tool"]["shipyard"]["images"]
    (repository,) = (table["repository"] for table in image.values())
    try:
        deployed = project.uv_run("invoke", "deploy", "--env", env)
        assert deployed.returncode == 0, deployed.output[-3000:]
        assert f"succeeded: {env} (docker)" in deployed.output
        response = _get(f"http://127.0.0.1:{port}/")
        assert response.status_code == 200
        assert response.text.startswith(answer)
        if name == "flask_app":  # SQLite in the instance folder: writable by the image's non-root user
            visits = int(_get(f"http://127.0.0.1:{port}/").text.rsplit(" ", 1)[1])
            assert visits >= 2
            # ... and on the volume init configured, so a redeploy of a changed app keeps the data
            with (project.root / "flaskr" / "__init__.py").open("a") as source:
                source.write("\n# a one-line change\n")
            again = project.uv_run("invoke", "deploy", "--env", env)
            assert again.returncode == 0, again.output[-3000:]
            # (the health checks of "/" count visits too: a fresh database would count only the new version's)
            assert int(_get(f"http://127.0.0.1:{port}/").text.rsplit(" ", 1)[1]) > visits
            volumes = {v.name for v in docker_client.volumes.list(filters={"label": f"shipyard.env={env}"})}
            assert any(name.endswith("-var") for name in volumes), volumes
    finally:
        remove_environment(docker_client, env)
        for image_ref in docker_client.images.list(name=repository):
            for tag in image_ref.tags:
                with contextlib.suppress(Exception):
                    docker_client.images.remove(tag)


@pytest.mark.docker
def test_a_project_with_no_dependencies_builds_and_serves(
    fixture_project: Callable[[str], Fixture], docker_client: Any
) -> None:
    project = fixture_project("no_deps")
    assert project.init().returncode == 0
    built = project.uv_run("invoke", "image.build", "--build-wheel")
    assert built.returncode == 0, built.output[-3000:]
    assert "not consumed" not in built.output
    port = free_port()
    container = docker_client.containers.run(
        "plainhttp:0.1.0", detach=True, network_mode="host", environment={"PORT": str(port)}
    )
    try:
        assert _get(f"http://127.0.0.1:{port}/").text == "plain hello"
        assert container.attrs["Config"]["User"] == "app"
    finally:
        container.remove(force=True)
        with contextlib.suppress(Exception):
            docker_client.images.remove("plainhttp:0.1.0")
