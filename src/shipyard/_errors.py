"""Shipyard's exception tree: shallow, one base per domain, each wrapping its root cause.

    ShipyardError                  the root; str(exc) is the one line a user sees
    ├── ConfigError                bad input in a file or key: names the file, the key and the fix
    ├── CommandFailed              a subprocess exited non-zero (argv, return code, output tail)
    ├── SyncError                  a session environment could not be synced from uv.lock
    ├── ImageError                 an image build or push failed
    ├── DeployError                a deploy failed; the previous version is still serving
    └── PipelineError              the pipeline could not be planned or a stage failed

Third-party errors (docker-py, botocore, subprocess) are translated at the boundary into one of these, with the
original kept as ``__cause__``. The CLI alone maps them to exit codes (``shipyard._cli``).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CommandFailed",
    "ConfigError",
    "DeployError",
    "DeployInterrupted",
    "ImageError",
    "PipelineError",
    "ShipyardError",
    "SyncError",
]


class ShipyardError(Exception):
    """Root of every error Shipyard raises on purpose. ``str()`` is a complete, one-line message."""

    exit_code: int = 1


class ConfigError(ShipyardError):
    """A user's input is wrong: a file, a key or a value. The message says where and how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.key = key


class CommandFailed(ShipyardError):
    """A subprocess exited non-zero. ``output`` holds what it printed (already redacted)."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        tail = output.strip().splitlines()[-1:] if output.strip() else []
        detail = f": {tail[0]}" if tail else ""
        super().__init__(f"`{' '.join(self.argv)}` exited with {returncode}{detail}")


class SyncError(ShipyardError):
    """A nox session's environment could not be synced from uv.lock (stale lock, unknown group, uv missing)."""

    exit_code = 2


class ImageError(ShipyardError):
    """An image could not be built, tagged or pushed."""


class DeployError(ShipyardError):
    """A deploy failed. Shipyard leaves (or puts back) the previous version serving before raising this."""


class DeployInterrupted(DeployError):
    """A deploy stopped by SIGINT or SIGTERM; the target has put the previous version back before raising this."""

    exit_code = 130


class PipelineError(ShipyardError):
    """The pipeline could not be planned (cycle, missing input) or one of its stages failed."""
