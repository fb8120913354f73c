"""What a build and a push return: the identities later stages consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.images._stream import BuildStep

__all__ = ["BuiltImage", "PushedImage"]


@dataclass(frozen=True)
class BuiltImage:
    """A local image: its repository, the tags it got (``repo:tag``), its ID and the steps that ran."""

    name: str
    image: str
    tags: tuple[str, ...]
    id: str
    version: str
    revision: str | None
    steps: tuple[BuildStep, ...] = field(default=(), compare=False)
    #: The build record (SBOM, provenance) a push signs and stores beside the image (``shipyard.attest``).
    attestations: Path | None = field(default=None, compare=False)

    @property
    def tag_names(self) -> tuple[str, ...]:
        """The tags without the repository (``["0123abcd4567", "1.0.0"]``)."""
        return tuple(tag.rsplit(":", 1)[1] for tag in self.tags)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "image": self.image, "tags": list(self.tags), "id": self.id, "digest": None}


@dataclass(frozen=True)
class PushedImage:
    """An image in a registry. ``reference`` (``registry/repo@sha256:...``) is what later stages deploy."""

    built: BuiltImage
    registry: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    attempts: int = 1
    #: The attestation artifact stored with the image (``shipyard.attest.Attached``), when it had a build record.
    attested: Any = field(default=None, compare=False)

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.built.name,
            "image": self.repository,
            "tags": list(self.tags),
            "id": self.built.id,
            "digest": self.digest,
            "reference": self.reference,
        }
