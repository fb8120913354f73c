"""Fixtures for image tests: a tiny busybox base, tiny projects, hello-service workspaces, local registries.

Everything created here has a unique name and is removed in ``finally``, even when the test fails; images are
removed by the tags the tests created (never forced), so another session's images are never touched.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard._command import run
from shipyard.testing import LocalRegistry, require, require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_BASE = "shipyard/python-base:bookworm"


@dataclass
class ImageJanitor:
    """Removes the image tags and containers a test registers, whatever happened in the test."""

    client: Any
    tags: list[str] = field(default_factory=list)
    containers: list[Any] = field(default_factory=list)

    def cleanup(self) -> None:
        import docker.errors

        for container in self.containers:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        for tag in reversed(self.tags):
            with contextlib.suppress(docker.errors.APIError):
                self.client.images.remove(tag)


@pytest.fixture
def janitor(docker_client: Any) -> Iterator[ImageJanitor]:
    janitor = ImageJanitor(docker_client)
    try:
        yield janitor
    finally:
        janitor.cleanup()


@pytest.fixture(scope="session")
def busybox_base(docker_client: Any) -> Iterator[str]:
    """A ~1 MB base image (``FROM scratch`` + static busybox) under a unique tag."""
    tag = f"shipyard-test/busybox:{uuid.uuid4().hex[:12]}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dockerfile = b'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        for name, data, mode in (
            ("Dockerfile", dockerfile, 0o644),
            ("busybox", Path(require_tool("/bin/busybox", "busybox-static")).read_bytes(), 0o755),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    for line in docker_client.api.build(fileobj=buffer, custom_context=True, tag=tag, network_mode="none", decode=True):
        assert "error" not in line, line
    try:
        yield tag
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag)


@pytest.fixture(scope="session")
def python_base(docker_client: Any) -> str:
    import docker.errors

    try:
        docker_client.images.get(PYTHON_BASE)
    except docker.errors.ImageNotFound:
        require(f"no {PYTHON_BASE} image: run `bash ci/base-image.sh`")
    return PYTHON_BASE


@pytest.fixture
def tiny_project(tmp_path: Path, busybox_base: str) -> Callable[..., Path]:
    """Factory: ``tiny_project(dockerfile, name="tiny")`` -> the root of a new tiny project."""

    def make(dockerfile: str = TINY_DOCKERFILE, *, name: str = "tiny") -> Path:
        return make_tiny_project(tmp_path / uuid.uuid4().hex[:8], busybox_base, dockerfile, name=name)

    return make


def make_tiny_project(root: Path, base: str, dockerfile: str, *, name: str = "tiny") -> Path:
    """A locked project with no dependencies whose image is built from ``dockerfile`` on ``base``."""
    root.mkdir(parents=True, exist_ok=True)
    repository = f"shipyard-test/{name}-{uuid.uuid4().hex[:10]}"
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "tiny-app"
            version = "0.1.0"
            requires-python = ">=3.11"
            dependencies = []

            [tool.shipyard.images.{name}]
            context = "image"
            package = "tiny-app"
            repository = "{repository}"
            build-args = {{ BASE_IMAGE = "{base}" }}
            """
        )
    )
    (root / "image").mkdir()
    (root / "image" / "Dockerfile").write_text(dockerfile)
    (root / "dist").mkdir()
    # The wheel is an artifact like any other; these images only copy it, so any bytes will do.
    (root / "dist" / "tiny_app-0.1.0-py3-none-any.whl").write_bytes(uuid.uuid4().bytes)
    run(["uv", "lock", "--quiet"], cwd=root)
    return root


TINY_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY artifacts/app/ /app/
CMD ["ls", "/app"]
"""


@pytest.fixture
def hello_workspace(tmp_path: Path) -> Path:
    return copy_hello_workspace(tmp_path / "workspace")


def copy_hello_workspace(target: Path) -> Path:
    """This repository's uv workspace, reduced to what building hello-service needs, to change freely."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO_ROOT / name, target / name)
    shutil.copytree(
        REPO_ROOT / "examples" / "hello-service",
        target / "examples" / "hello-service",
        ignore=shutil.ignore_patterns("__pycache__", "tests", "dist", "artifacts"),
    )
    (target / "src" / "shipyard").mkdir(parents=True)
    (target / "src" / "shipyard" / "__init__.py").write_text("")
    return target


@pytest.fixture
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as server:
        yield server


@pytest.fixture(scope="module")
def scratch_base(docker_client: Any) -> Iterator[str]:
    """A base image of one file on ``scratch``: no shell or binary needed on the host (COPY-only Dockerfiles)."""
    tag = f"shipyard-test/scratch:{uuid.uuid4().hex[:12]}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY marker /marker\n"), ("marker", tag.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    for line in docker_client.api.build(fileobj=buffer, custom_context=True, tag=tag, network_mode="none", decode=True):
        assert "error" not in line, line
    try:
        yield tag
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag)
