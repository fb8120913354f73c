"""The image errors: both are ``ImageError`` s, carrying what a caller needs to explain or retry."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard._errors import ImageError

__all__ = ["BuildFailed", "PushFailed"]


class BuildFailed(ImageError):
    """A build stream reported an error or ended without an image. ``log_tail`` holds its last lines."""

    def __init__(self, message: str, *, step: str, log_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.step = step
        self.log_tail = list(log_tail)


class PushFailed(ImageError):
    """A push failed. ``transient`` faults (connection, timeout, 5xx, 429) are worth retrying; others never."""

    def __init__(self, message: str, *, registry: str, transient: bool, log_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.registry = registry
        self.transient = transient
        self.log_tail = list(log_tail)
