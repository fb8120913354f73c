"""The one call a build makes: write the image's SBOM and its provenance (minus the subject) beside the project."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shipyard._errors import ImageError
from shipyard.attest._provenance import write_record
from shipyard.attest._sbom import base_images, image_sbom

__all__ = ["record_build"]


def record_build(
    config: Any,
    artifacts: Any,
    revision: Any,
    *,
    image_id: str,
    build_args: Mapping[str, str],
    inspect: Callable[[str], Any],
    started: dt.datetime,
) -> Path:
    """Write the build record of ``image_id`` (an ``ImageConfig`` built from ``artifacts`` at ``revision``)."""
    finished = dt.datetime.now(dt.UTC)
    dockerfile = config.context / config.dockerfile
    bases = base_images(dockerfile.read_text(), build_args, inspect=inspect)
    sbom = image_sbom(
        root=config.root,
        package=config.package,
        version=config.version,
        repository=config.repository,
        wheel=artifacts.wheel,
        bases=bases,
        created=finished.isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    parameters = {
        "image": config.name,
        "repository": config.repository,
        "package": config.package,
        "version": config.version,
        "python": config.python,
        "context": str(config.context.relative_to(config.root))
        if config.context.is_relative_to(config.root)
        else str(config.context),
        "dockerfile": config.dockerfile,
        "target": config.target,
        "buildArgs": dict(build_args),
    }
    try:
        return write_record(
            root=config.root,
            image_id=image_id,
            sbom=sbom,
            dockerfile=dockerfile,
            revision=revision,
            source_url=config.source_url,
            parameters=parameters,
            bases=bases,
            wheel=artifacts.wheel,
            requirements=artifacts.requirements,
            started=started,
            finished=finished,
        )
    except OSError as exc:
        where = config.root / ".shipyard"
        raise ImageError(f"image {config.name}: cannot write its build record under {where} ({exc})") from exc
