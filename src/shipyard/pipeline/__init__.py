"""Shipyard's pipeline engine: async stages with declared inputs and outputs, run as a DAG in parallel.

See docs/pipeline.md. The public surface is re-exported here; the modules behind it are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.pipeline._cache import CacheStore, LocalStore
from shipyard.pipeline._cleanup import CleanupRegistry, add_cleanup, cleanups
from shipyard.pipeline._context import StageContext
from shipyard.pipeline._graph import Graph, PlanError
from shipyard.pipeline._model import FileArtifact, ImageArtifact, Retry, StageResult, StageSpec, StageState
from shipyard.pipeline._pipeline import Interrupted, Pipeline, StageFailed, run_pipeline, stage
from shipyard.pipeline._report import RunReport
from shipyard.pipeline._reporters import GitHubReporter, LogReporter, Reporter, default_reporters
from shipyard.pipeline._runner import RunOptions, StageTimeout

if TYPE_CHECKING:
    from shipyard.pipeline._retry import retry_call, retryable
    from shipyard.pipeline._s3 import S3Store

__all__ = [
    "CacheStore",
    "CleanupRegistry",
    "FileArtifact",
    "GitHubReporter",
    "Graph",
    "ImageArtifact",
    "Interrupted",
    "LocalStore",
    "LogReporter",
    "Pipeline",
    "PlanError",
    "Reporter",
    "Retry",
    "RunOptions",
    "RunReport",
    "S3Store",
    "StageContext",
    "StageFailed",
    "StageResult",
    "StageSpec",
    "StageState",
    "StageTimeout",
    "add_cleanup",
    "cleanups",
    "default_reporters",
    "retry_call",
    "retryable",
    "run_pipeline",
    "stage",
]


def __getattr__(name: str) -> object:
    # S3Store imports boto3 when constructed, the retry helpers import stamina: loaded on first use, so a warm
    # `invoke check` does not pay for them.
    if name == "S3Store":
        from shipyard.pipeline._s3 import S3Store

        return S3Store
    if name in ("retry_call", "retryable"):
        from shipyard.pipeline import _retry

        return getattr(_retry, name)
    raise AttributeError(f"module 'shipyard.pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
