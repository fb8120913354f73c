"""The GitHub Actions the generated workflows use, each pinned to a full commit SHA.

A tag can be moved to other code; a commit SHA cannot. The rendered workflow carries the version as a comment
(``uses: actions/checkout@<sha> # v4.2.2``) so a reader and Dependabot still see which release it is.
How these SHAs were found and how to bump them: docs/ci.md, "Pinned actions".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CHECKOUT", "CONFIGURE_AWS_CREDENTIALS", "PINS", "SETUP_UV", "UPLOAD_ARTIFACT", "Pin"]

_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Pin:
    """One action at one commit; ``version`` is the release tag that commit carries."""

    action: str
    sha: str
    version: str

    def __post_init__(self) -> None:
        if not _SHA.fullmatch(self.sha):
            raise ValueError(f"{self.action}: {self.sha!r} is not a full 40-hex commit SHA")

    @property
    def uses(self) -> str:
        return f"{self.action}@{self.sha}"


CHECKOUT = Pin("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")
SETUP_UV = Pin("astral-sh/setup-uv", "e92bafb6253dcd438e0484186d7669ea7a8ca1cc", "v6.4.3")
UPLOAD_ARTIFACT = Pin("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2")
CONFIGURE_AWS_CREDENTIALS = Pin(
    "aws-actions/configure-aws-credentials", "b47578312673ae6fa5b5096b330d9fbac3d116df", "v4.2.1"
)

#: Every pin, keyed by ``uses`` (what the renderer looks up to add the version comment).
PINS: dict[str, Pin] = {pin.uses: pin for pin in (CHECKOUT, SETUP_UV, UPLOAD_ARTIFACT, CONFIGURE_AWS_CREDENTIALS)}
