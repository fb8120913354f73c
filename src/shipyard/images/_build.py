"""Building an image through docker-py's classic builder, from artifacts, with no network inside the build.

The stream is parsed line by line; each line becomes ``BuildEvent`` s for the caller's ``on_event`` (a live view
or plain lines: the caller decides). A stream that reports an error, or ends without an image ID, raises
``ImageError`` naming the failing step with the log tail; it is never reported as a success.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from shipyard._errors import ImageError
from shipyard._logging import get_logger
from shipyard.images._artifacts import Revision, collect, git_revision
from shipyard.images._client import api_client
from shipyard.images._config import ImageConfig
from shipyard.images._context import build_context
from shipyard.images._errors import BuildFailed
from shipyard.images._stream import BuildEvent, BuildStream
from shipyard.images._types import BuiltImage

if TYPE_CHECKING:
    import docker

__all__ = ["EventSink", "build_image", "labels_for", "local_image", "standard_build_args"]

#: Receives each event of a running build (steps, output lines, cache hits, the error).
EventSink = Callable[[BuildEvent], None]


def _log() -> Any:
    # Looked up per call, not at import: the CLI configures structlog after importing this module.
    return get_logger("images")


_TAIL_IN_MESSAGE = 3
#: The builder's own bookkeeping lines: never what a user needs to see in an error message.
_BUILDER_CHATTER = ("--->", "Step ", "Removing intermediate container", "Running in", "Successfully")


def build_image(
    config: ImageConfig,
    *,
    client: docker.APIClient | None = None,
    dist: Path | None = None,
    build_wheel: bool = False,
    on_event: EventSink | None = None,
    nocache: bool = False,
    now: dt.datetime | None = None,
) -> BuiltImage:
    """Build ``config``'s image from its artifacts and tag it with the git commit and the package version.

    ``dist`` holds the wheel (the project's ``dist/`` by default); ``build_wheel`` builds it first.
    """
    revision = git_revision(config.root)
    tag_names = [revision.tag] if revision else []
    tag_names.append(config.version)
    _check_tags(config, tag_names)  # before any work: a bad name must not surface after the whole build
    artifacts = collect(config, dist=dist, build=build_wheel)
    labels = labels_for(config, revision.label if revision else None, now=now or _created(revision))
    owns_client = client is None
    api = client or api_client()
    stream = BuildStream()
    started = dt.datetime.now(dt.UTC)
    _log().info("image.build.start", image=config.name, repository=config.repository, tags=tag_names)
    try:
        with build_context(config, artifacts) as context:
            lines = api.build(
                fileobj=context,
                custom_context=True,
                dockerfile=config.dockerfile,
                buildargs={**_standard_declared(config, revision), **config.build_args},
                target=config.target,
                labels=labels,
                network_mode="none",
                rm=True,
                forcerm=True,
                nocache=nocache,
                decode=True,
                timeout=None,
            )
            for line in lines:
                for event in stream.feed(line):
                    if event.kind == "step":  # progress for the live view and the log: step n/m
                        _log().info(
                            "image.build.step", image=config.name, step=event.step, total=event.total, text=event.text
                        )
                    if on_event is not None:
                        on_event(event)
        if stream.error is not None:
            raise _failed(config, stream, stream.error)
        if stream.image_id is None:
            raise _failed(config, stream, "the build stream ended without an image ID")
        for name in tag_names:
            api.tag(stream.image_id, config.repository, tag=name)
        from shipyard.attest import record_build

        args = {**standard_build_args(config, revision.label if revision else None), **config.build_args}
        record = record_build(config, artifacts, revision, image_id=stream.image_id, build_args=args,
                              inspect=api.inspect_image, started=started)  # fmt: skip
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - translated at the boundary, or re-raised untouched
        _raise_translated(config, stream, exc)
    finally:
        if owns_client:
            api.close()
    tags = tuple(f"{config.repository}:{name}" for name in tag_names)
    cached = sum(step.cached for step in stream.steps)
    _log().info("image.build.done", image=config.name, id=stream.image_id, tags=list(tags), cached_steps=cached)
    return BuiltImage(
        name=config.name,
        image=config.repository,
        tags=tags,
        id=stream.image_id,
        version=config.version,
        revision=revision.label if revision else None,
        steps=tuple(stream.steps),
        attestations=record,
    )


def _check_tags(config: ImageConfig, tag_names: list[str]) -> None:
    from shipyard._refs import parse_reference
    from shipyard._secrets import protect

    for tag in tag_names:
        parsed, problem = parse_reference(f"{config.repository}:{tag}")
        if parsed is None:
            raise ImageError(
                f"image {config.name}: {config.repository}:{tag} {problem}; set a version docker accepts as a tag"
            )
        protect(f"{config.repository}:{tag}")


def standard_build_args(config: ImageConfig, revision: str | None) -> dict[str, str]:
    """Build arguments every image gets, so a Dockerfile can hand them to the service (``ARG SHIPYARD_REVISION``).

    Only those the Dockerfile declares are passed (``images._dockerfile``), so the builder never warns about them.
    """
    return {"SHIPYARD_REVISION": revision or "unknown", "SHIPYARD_VERSION": config.version}


def _standard_declared(config: ImageConfig, revision: Revision | None) -> dict[str, str]:
    # Only the standard arguments the Dockerfile declares: no "build-args were not consumed" warning.
    from shipyard.images._dockerfile import only_declared

    standard = standard_build_args(config, revision.label if revision else None)
    return only_declared(standard, config.context / config.dockerfile)


def labels_for(config: ImageConfig, revision: str | None, *, now: dt.datetime | None = None) -> dict[str, str]:
    """The OCI annotations the image carries: revision, source, version and creation time."""
    created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    labels = {"org.opencontainers.image.version": config.version, "org.opencontainers.image.created": created}
    if revision:
        labels["org.opencontainers.image.revision"] = revision
    if config.source_url:
        labels["org.opencontainers.image.source"] = config.source_url
    return labels


def _created(revision: Revision | None) -> dt.datetime:
    """``SOURCE_DATE_EPOCH``, else the commit time of a clean tree, else now: a clean rebuild is identical."""
    if epoch := os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    if revision is not None and not revision.dirty and revision.timestamp is not None:
        return dt.datetime.fromtimestamp(revision.timestamp, dt.UTC)
    return dt.datetime.now(dt.UTC)


def local_image(config: ImageConfig, *, client: docker.APIClient | None = None) -> BuiltImage:
    """The image ``build_image`` made for the current commit and version, found by its tags."""
    import docker.errors

    revision = git_revision(config.root)
    tag = revision.tag if revision else config.version
    api = client or api_client()
    try:
        info = api.inspect_image(f"{config.repository}:{tag}")  # type: ignore[no-untyped-call]
    except docker.errors.ImageNotFound as exc:
        raise ImageError(
            f"image {config.name}: no local image {config.repository}:{tag}; run `invoke image.build` first"
        ) from exc
    finally:
        if client is None:
            api.close()
    record = config.root / ".shipyard" / "attest" / str(info["Id"]).removeprefix("sha256:")
    names = [f"{config.repository}:{revision.tag}"] if revision else []
    names.append(f"{config.repository}:{config.version}")
    return BuiltImage(
        name=config.name,
        image=config.repository,
        tags=tuple(name for name in names if name in info.get("RepoTags", [])) or (f"{config.repository}:{tag}",),
        id=str(info["Id"]),
        version=config.version,
        revision=revision.label if revision else None,
        attestations=record if record.is_dir() else None,
    )


def _failed(config: ImageConfig, stream: BuildStream, reason: str) -> BuildFailed:
    reason = " ".join(reason.split())
    tail = [line.strip() for line in stream.tail if line.strip() and " ".join(line.split()) != reason]
    tail = [line for line in tail if not line.startswith(_BUILDER_CHATTER)][-_TAIL_IN_MESSAGE:]
    last = f"; last output: {' | '.join(tail)}" if tail else ""
    message = f"image {config.name}: build failed at {stream.failing_step}: {reason}{last}"
    return BuildFailed(message, step=stream.failing_step, log_tail=list(stream.tail))


def _raise_translated(config: ImageConfig, stream: BuildStream, exc: Exception) -> NoReturn:
    import docker.errors
    import requests

    if isinstance(exc, docker.errors.APIError):
        reason = str(exc.explanation or exc).strip().replace("\n", " ")
    elif isinstance(exc, requests.RequestException | docker.errors.DockerException):
        reason = f"{type(exc).__name__}: {exc}"
    else:
        raise exc
    raise _failed(config, stream, reason) from exc
