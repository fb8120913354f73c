"""Shipyard: build, push and deploy Python services from lockfile-bound nox sessions.

The public surface is small and re-exported here; everything else lives in private ``_modules``. Importing
``shipyard`` is cheap: docker-py, boto3 and rich's live display are loaded only by the code that uses them.
"""

from __future__ import annotations

from typing import Any

from shipyard._errors import (
    CommandFailed,
    ConfigError,
    DeployError,
    ImageError,
    PipelineError,
    ShipyardError,
    SyncError,
)
from shipyard._secrets import redact, register_secret

__all__ = [
    "CommandFailed",
    "ConfigError",
    "DeployError",
    "ImageError",
    "PipelineError",
    "ShipyardError",
    "SyncError",
    "__version__",
    "redact",
    "register_secret",
]


def __getattr__(name: str) -> Any:
    # The version is read from the installed metadata on first use only (importlib.metadata is slow to import).
    if name == "__version__":
        from importlib.metadata import version

        return version("shipyard")
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
