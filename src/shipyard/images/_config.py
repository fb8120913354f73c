"""``[tool.shipyard.images.<name>]``: what an image is built from, validated into an ``ImageConfig``.

Every mistake is one ``ConfigError`` line naming pyproject.toml and the dotted key, and saying how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard._errors import ConfigError
from shipyard._pyproject import PYPROJECT, Field, find_root, load, table_at, validate_table, workspace_pyprojects
from shipyard._refs import repository_problem
from shipyard._secrets import protect

__all__ = ["ImageConfig", "load_image", "load_images"]

TABLE = "tool.shipyard.images"

_FIELDS = {
    "context": Field(str, required=True, help="the build context directory, relative to pyproject.toml"),
    "dockerfile": Field(str, default="Dockerfile"),
    "package": Field(str, required=True, help="the uv workspace package the image ships"),
    "repository": Field(str, required=True, help='the image repository, e.g. "acme/hello-service"'),
    "build-args": Field(dict, default={}),
    "target": Field(str),
    "python": Field(str, default="3.11"),
}


@dataclass(frozen=True)
class ImageConfig:
    """One image: where its context and Dockerfile are, which package it ships, and where it goes."""

    name: str
    root: Path
    context: Path
    dockerfile: str
    package: str
    version: str
    repository: str
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    #: The Python of the base image: the wheelhouse is downloaded for it (``pip download --python-version``).
    python: str = "3.11"
    source_url: str | None = None


def load_images(root: Path | None = None) -> dict[str, ImageConfig]:
    """Every image configured in ``root``'s pyproject.toml (the project root by default), by name."""
    root = (root or find_root()).resolve()
    path = root / PYPROJECT
    data = load(path)
    tables = table_at(data, TABLE, file=str(path))
    if not isinstance(tables, Mapping):
        raise ConfigError("must be a table of images, one per name", file=str(path), key=TABLE)
    members = _workspace_packages(root)
    source_url = _source_url(data)
    return {
        name: _image(name, table, root=root, file=str(path), members=members, source_url=source_url)
        for name, table in tables.items()
    }


def load_image(name: str, root: Path | None = None) -> ImageConfig:
    """The image called ``name``; a one-line error listing the configured ones when there is none."""
    images = load_images(root)
    if name not in images:
        import difflib

        known = ", ".join(sorted(images)) or "none"
        near = difflib.get_close_matches(name, list(images), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(
            f"no image {name!r} is configured (configured: {known}); {hint}add a [{TABLE}.{name}] table",
            file=PYPROJECT,
            key=f"{TABLE}.{name}",
        )
    return images[name]


def _image(
    name: str, table: Any, *, root: Path, file: str, members: Mapping[str, str], source_url: str | None
) -> ImageConfig:
    key = f"{TABLE}.{name}"
    values = validate_table(table, _FIELDS, file=file, key=key)
    context = (root / values["context"]).resolve()
    _check_inside(context, root, what="the build context", file=file, key=f"{key}.context")
    if not context.is_dir():
        raise ConfigError(f"directory {context} does not exist; fix the path", file=file, key=f"{key}.context")
    dockerfile = values["dockerfile"]
    _check_inside((context / dockerfile).resolve(), context, what="the Dockerfile", file=file, key=f"{key}.dockerfile")
    if not (context / dockerfile).is_file():
        raise ConfigError(
            f"{context / dockerfile} does not exist; add it or fix the path (relative to the context)",
            file=file,
            key=f"{key}.dockerfile",
        )
    package = values["package"]
    if package not in members:
        known = ", ".join(sorted(members)) or "none"
        raise ConfigError(
            f"{package!r} is not a package of the uv workspace (packages: {known}); fix the name",
            file=file,
            key=f"{key}.package",
        )
    build_args = values["build-args"]
    for arg, value in build_args.items():
        if not isinstance(value, str):
            raise ConfigError(
                f"must be a string, got {type(value).__name__} {value!r}", file=file, key=f"{key}.build-args.{arg}"
            )
    repository = values["repository"]
    if problem := repository_problem(repository):
        raise ConfigError(f"{repository!r} {problem}", file=file, key=f"{key}.repository")
    protect(repository)  # a common-word secret must never mangle the repository in output
    _check_build_settings(values, file=file, key=key)
    return ImageConfig(
        name=name,
        root=root,
        context=context,
        dockerfile=dockerfile,
        package=package,
        version=members[package],
        repository=repository,
        build_args=dict(build_args),
        target=values["target"],
        python=values["python"],
        source_url=source_url,
    )


def _check_build_settings(values: Mapping[str, Any], *, file: str, key: str) -> None:
    """``python`` and ``target`` are used deep inside the build: a bad one is named before any work."""
    import re

    if not re.fullmatch(r"3\.[0-9]{1,2}", values["python"]):
        raise ConfigError(
            f'{values["python"]!r} is not a Python version for the wheelhouse; use major.minor, e.g. "3.11"',
            file=file,
            key=f"{key}.python",
        )
    target = values["target"]
    if target is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", target):
        raise ConfigError(
            f"{target!r} is not a Dockerfile stage name (FROM ... AS <name>)", file=file, key=f"{key}.target"
        )


def _check_inside(path: Path, parent: Path, *, what: str, file: str, key: str) -> None:
    """Refuse ``path`` outside ``parent``: nothing from outside the project may be baked into an image."""
    if not path.is_relative_to(parent):
        raise ConfigError(
            f"{what} {path} is outside {parent}; keep it inside (a build must not read files from elsewhere)",
            file=file,
            key=key,
        )


def _workspace_packages(root: Path) -> dict[str, str]:
    """Package name -> version for the root project and every uv workspace member."""
    found: dict[str, str] = {}
    for path in workspace_pyprojects(root):
        meta = load(path).get("project", {})
        if "name" in meta:
            found[str(meta["name"])] = str(meta.get("version", "0"))
    return found


def _source_url(data: Mapping[str, Any]) -> str | None:
    urls = data.get("project", {}).get("urls", {})
    for key in ("Source", "Repository", "source", "repository", "Homepage"):
        if key in urls:
            return str(urls[key])
    return None
