"""Tasks ``image.build`` and ``image.push``: build images from artifacts, push them and print their digests.

The build log goes to stderr (a rich live view on a terminal, plain lines in CI or when piped); results go to
stdout, as JSON with ``--json``. docker-py is imported only inside the task bodies.
"""

from __future__ import annotations

import json as jsonlib
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection

from shipyard.tasks._base import shipyard_task

if TYPE_CHECKING:
    from shipyard.images import BuildEvent, BuiltImage, ImageConfig

__all__ = ["build", "collection", "push"]

DEFAULT_REGISTRY = "127.0.0.1:5000"
_LIVE_LINES = 10

_HELP = {
    "name": "the image to build (a [tool.shipyard.images.<name>] table); repeat it; default: all of them",
    "json": "print {image, tags, id, digest} per image as JSON",
    "build_wheel": "build the package's wheel into dist/ first (default: use the one the `build` session made)",
    "no_cache": "build every step again, ignoring the layer cache",
}


def _configs(names: list[str]) -> list[ImageConfig]:
    from shipyard._errors import ConfigError
    from shipyard.images import load_image, load_images

    if names:
        return [load_image(name) for name in names]
    images = list(load_images().values())
    if not images:
        raise ConfigError("no images are configured; add a [tool.shipyard.images.<name>] table", file="pyproject.toml")
    return images


@contextmanager
def _build_view(name: str) -> Iterator[Callable[[BuildEvent], None]]:
    """A rich live view of the current step and the last lines on a terminal; plain lines otherwise."""
    from shipyard import _output
    from shipyard._logging import output_mode
    from shipyard._secrets import redact

    if output_mode(sys.stderr) != "live":

        def plain(event: BuildEvent) -> None:
            if event.kind == "step":
                print(f"[{name}] Step {event.step}/{event.total}: {redact(event.text)}", file=sys.stderr)  # noqa: T201
            elif event.kind == "cached":
                print(f"[{name}]   (cached)", file=sys.stderr)  # noqa: T201
            else:
                print(f"[{name}]   {redact(event.text)}", file=sys.stderr)  # noqa: T201

        yield plain
        return

    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    console = Console(stderr=True)
    lines: deque[str] = deque(maxlen=_LIVE_LINES)
    state = {"title": f"{name}: starting"}

    def render() -> Group:
        return Group(Text(state["title"], style="bold"), *(Text(f"  {line}", style="dim") for line in lines))

    with Live(render(), console=console, refresh_per_second=8, transient=True) as live, _output.attached(console):

        def rich_view(event: BuildEvent) -> None:
            if event.kind == "step":
                state["title"] = f"{name}: step {event.step}/{event.total} {redact(event.text)[:100]}"
                console.print(f"[dim]{name}[/] step {event.step}/{event.total} {redact(event.text)[:100]}", markup=True)
                lines.clear()
            elif event.kind == "cached":
                console.print("  [green]cached[/]", markup=True)
            else:
                lines.append(redact(event.text)[:160])
            live.update(render())

        yield rich_view


def _report(rows: list[dict[str, Any]], *, as_json: bool, text: Callable[[dict[str, Any]], str]) -> None:
    from shipyard._secrets import redact

    if as_json:
        print(redact(jsonlib.dumps(rows if len(rows) > 1 else rows[0], indent=2)))  # noqa: T201
        return
    for row in rows:
        print(redact(text(row)))  # noqa: T201


def _built_text(row: dict[str, Any]) -> str:
    return f"built {row['image']} {row['id'][:19]} tags: {', '.join(row['tags'])}"


@shipyard_task(iterable=["name"], help=_HELP)
def build(
    c: Any, name: list[str] | None = None, json: bool = False, build_wheel: bool = False, no_cache: bool = False
) -> None:
    """Build images from the `build` session's wheel and the locked requirements (classic builder, no network)."""
    from shipyard._logging import configure
    from shipyard.images import build_image

    configure(level="warning")
    results: list[BuiltImage] = []
    for config in _configs(name or []):
        with _build_view(config.name) as on_event:
            results.append(build_image(config, build_wheel=build_wheel, nocache=no_cache, on_event=on_event))
    _report([image.as_json() for image in results], as_json=json, text=_built_text)


@shipyard_task(
    iterable=["name"],
    help={
        "name": _HELP["name"],
        "json": _HELP["json"],
        "registry": f"host[:port] to push to (default: $SHIPYARD_REGISTRY or {DEFAULT_REGISTRY})",
        "attempts": "most attempts per push on transient faults (connection, timeout, 5xx, 429)",
        "timeout": "most seconds to keep retrying one push",
    },
)
def push(  # noqa: PLR0917 - invoke maps positional parameters to options
    c: Any,
    name: list[str] | None = None,
    registry: str = "",
    json: bool = False,
    attempts: int = 5,
    timeout: float = 120.0,
) -> None:
    """Push the images built for this commit (concurrently) and print their digest references."""
    from shipyard._logging import configure
    from shipyard.images import RetryPolicy, local_image, push_images

    configure(level="warning")
    target = registry or os.environ.get("SHIPYARD_REGISTRY", "") or DEFAULT_REGISTRY
    built = [local_image(config) for config in _configs(name or [])]
    pushed = push_images(built, target, policy=RetryPolicy(attempts=attempts, timeout=timeout))
    _report(
        [image.as_json() for image in pushed],
        as_json=json,
        text=lambda row: f"pushed {row['reference']}",
    )


def collection() -> Collection:
    """The ``image`` collection: ``image.build`` and ``image.push``."""
    return Collection("image", build, push)
