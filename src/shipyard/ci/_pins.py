"""The GitHub Actions the generated workflows use, each pinned to a full commit SHA, and the project's overrides.

A tag can be moved to other code; a commit SHA cannot. The rendered workflow carries the version as a comment
(``uses: actions/checkout@<sha> # v7.0.1``) so a reader and Dependabot still see which release it is.
``DEFAULTS`` is Shipyard's own table; a project overrides or extends it in ``[tool.shipyard.ci.pins]``
(``"actions/checkout" = { version = "v7.0.1", sha = "<40 hex>" }``), which ``shipyard ci pins update`` writes.
How these SHAs were found and how to bump them: docs/ci.md, "Pinned actions".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CHECKOUT",
    "CONFIGURE_AWS_CREDENTIALS",
    "DEFAULTS",
    "DOWNLOAD_ARTIFACT",
    "PINS",
    "SETUP_UV",
    "UPLOAD_ARTIFACT",
    "Pin",
    "effective",
    "is_sha",
    "repository_of",
    "valid_action",
]

_SHA = re.compile(r"[0-9a-f]{40}")
_ACTION = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_./-]+)?")


def is_sha(ref: str) -> bool:
    """True for a full 40-hex (lower-case) commit SHA, the only ``uses:`` ref that cannot move."""
    return bool(_SHA.fullmatch(ref))


def valid_action(name: str) -> bool:
    """``owner/repo`` or ``owner/repo/path`` (an action in a subdirectory), as ``uses:`` takes it."""
    return bool(_ACTION.fullmatch(name)) and ".." not in name


def repository_of(action: str) -> str:
    """The repository that holds ``action``: ``github/codeql-action/init`` -> ``github/codeql-action``."""
    return "/".join(action.split("/")[:2])


@dataclass(frozen=True)
class Pin:
    """One action at one commit; ``version`` is the release tag that commit carries."""

    action: str
    sha: str
    version: str

    def __post_init__(self) -> None:
        if not is_sha(self.sha):
            raise ValueError(f"{self.action}: {self.sha!r} is not a full 40-hex commit SHA")

    @property
    def uses(self) -> str:
        return f"{self.action}@{self.sha}"


# Each SHA is the commit its tag points to upstream (issue 17's table, 2026-12-01; download-artifact from the
# same releases' pins in public workflows). All five run on Node 24.
CHECKOUT = Pin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")
SETUP_UV = Pin("astral-sh/setup-uv", "20cfd1bf945f4377ade1205e4dbc17946fc9a30d", "v10.0.1")
UPLOAD_ARTIFACT = Pin("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0")
DOWNLOAD_ARTIFACT = Pin("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1")
CONFIGURE_AWS_CREDENTIALS = Pin(
    "aws-actions/configure-aws-credentials", "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"
)

#: Shipyard's own pins, keyed by action.
DEFAULTS: dict[str, Pin] = {
    pin.action: pin for pin in (CHECKOUT, SETUP_UV, UPLOAD_ARTIFACT, DOWNLOAD_ARTIFACT, CONFIGURE_AWS_CREDENTIALS)
}

#: The built-in pins keyed by ``uses`` (kept for callers that annotate a rendered file without a project).
PINS: dict[str, Pin] = {pin.uses: pin for pin in DEFAULTS.values()}


def effective(overrides: Mapping[str, Pin]) -> dict[str, Pin]:
    """The pins a project's workflows use: Shipyard's defaults, replaced or extended by its overrides."""
    return {**DEFAULTS, **overrides}
