"""Nothing from outside the project is baked into an image: the context and its symlinks stay inside."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from shipyard import ConfigError, ImageError
from shipyard.images import load_image
from shipyard.images._artifacts import Artifacts
from shipyard.images._context import build_context

PYPROJECT = """\
[project]
name = "app"
version = "1.0.0"

[tool.shipyard.images.app]
context = "{context}"
package = "app"
repository = "acme/app"
"""


def _project(root: Path, context: str = "image") -> Path:
    (root / "image").mkdir(parents=True)
    (root / "image" / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (root / "image" / "app.txt").write_text("inside\n")
    (root / "pyproject.toml").write_text(PYPROJECT.format(context=context))
    return root


def _artifacts(tmp: Path) -> Artifacts:
    wheelhouse = tmp / "wheelhouse"
    wheelhouse.mkdir()
    wheel = tmp / "app-1.0.0-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel")
    return Artifacts(wheel=wheel, requirements="", wheelhouse=wheelhouse)


def test_a_symlink_to_a_file_outside_the_context_is_refused_naming_both(tmp_path: Path) -> None:
    outside = tmp_path / "secret.env"
    outside.write_text("API_TOKEN=outside-the-project\n")
    root = _project(tmp_path / "proj")
    (root / "image" / "config.env").symlink_to(outside)
    with pytest.raises(ImageError) as caught:
        build_context(load_image("app", root), _artifacts(tmp_path))
    message = str(caught.value)
    assert "config.env" in message
    assert str(outside) in message
    assert "\n" not in message


def test_a_symlink_inside_the_context_is_fine(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj")
    (root / "image" / "link.txt").symlink_to(root / "image" / "app.txt")
    with build_context(load_image("app", root), _artifacts(tmp_path)) as fileobj, tarfile.open(fileobj=fileobj) as tar:
        assert "link.txt" in tar.getnames()


def test_a_context_outside_the_project_root_is_a_config_error(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj", context="../elsewhere")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_image("app", root)
    assert "tool.shipyard.images.app.context" in str(caught.value)
    assert "outside" in str(caught.value)
