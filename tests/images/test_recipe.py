"""The image recipe for any project: build-args only when declared, and a project with no dependencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard._command import run
from shipyard._errors import ImageError
from shipyard.images import BuildEvent, build_image, load_image
from shipyard.images._artifacts import export_requirements
from shipyard.images._dockerfile import declared_args, only_declared

from .conftest import make_tiny_project


def test_declared_args_reads_every_form() -> None:
    text = (
        "# ARG COMMENTED\n"
        "ARG BASE_IMAGE=debian\n"
        "FROM ${BASE_IMAGE}\n"
        "arg lower\n"
        "ARG A=1 B \\\n"
        "    C=3\n"
        'RUN echo "ARG NOT_ONE"\n'
    )
    assert declared_args(text) == {"BASE_IMAGE", "lower", "A", "B", "C"}


def test_only_declared_drops_what_the_dockerfile_does_not_use(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM x\nARG SHIPYARD_REVISION\n")
    args = {"SHIPYARD_REVISION": "abc", "SHIPYARD_VERSION": "1.0"}
    assert only_declared(args, dockerfile) == {"SHIPYARD_REVISION": "abc"}
    assert only_declared(args, tmp_path / "missing") == args  # unreadable: pass them all, as before


NO_ARGS = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY artifacts/requirements.txt artifacts/wheelhouse/ /build/
COPY artifacts/app/ /app/
CMD ["ls", "/build", "/app"]
"""

WITH_REVISION = NO_ARGS + "ARG SHIPYARD_REVISION=unknown\nLABEL rev=${SHIPYARD_REVISION}\n"


@pytest.mark.docker
@pytest.mark.parametrize("dockerfile", [NO_ARGS, WITH_REVISION], ids=["undeclared", "declared"])
def test_no_unconsumed_build_args_warning_and_an_empty_wheelhouse_copies(
    tmp_path: Path, python_base: str, janitor: Any, docker_client: Any, dockerfile: str
) -> None:
    root = make_tiny_project(tmp_path / "tiny", python_base, dockerfile)
    events: list[BuildEvent] = []
    built = build_image(load_image("tiny", root), on_event=events.append)
    janitor.tags += [built.id, *built.tags]
    output = "\n".join(event.text for event in events)
    assert "not consumed" not in output
    assert "COPY artifacts/requirements.txt artifacts/wheelhouse/ /build/" in output  # no dependencies: still fine
    labels = docker_client.api.inspect_image(built.id)["Config"]["Labels"] or {}
    if dockerfile is WITH_REVISION:  # a Dockerfile that declares it still gets it
        assert labels["rev"] == (built.revision or "unknown")


def test_exported_requirements_are_reused_until_the_lock_or_a_pyproject_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tiny_project(tmp_path / "tiny", "unused-base", NO_ARGS)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dependencies = []", 'dependencies = ["iniconfig"]'))
    run(["uv", "lock", "--quiet"], cwd=root)
    config = load_image("tiny", root)
    first = export_requirements(config)
    assert "iniconfig==" in first
    assert "--hash=sha256:" in first

    monkeypatch.setenv("UV", str(tmp_path / "no-uv-here"))  # a second export must not need uv at all
    assert export_requirements(config) == first

    monkeypatch.delenv("UV")
    pyproject.write_text(pyproject.read_text().replace('["iniconfig"]', '["iniconfig", "six"]'))  # not re-locked
    with pytest.raises(ImageError, match=r"uv.lock is out of date with pyproject.toml: run `uv lock`"):
        export_requirements(load_image("tiny", root))
