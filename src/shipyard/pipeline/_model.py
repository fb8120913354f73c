"""The pipeline's vocabulary: stage specifications, artifacts, retry policies, results.

Plain frozen dataclasses, no behaviour beyond validation: the graph, the cache and the runner read them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.pipeline._context import StageContext

__all__ = [
    "FileArtifact",
    "ImageArtifact",
    "Retry",
    "StageFunction",
    "StageResult",
    "StageSpec",
    "StageState",
]

#: A stage body: receives its context, returns its outputs by name (or None when it declares none).
StageFunction = Callable[["StageContext"], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class FileArtifact:
    """A file a stage produced, relative to the pipeline root. A cache hit restores its bytes."""

    path: str


@dataclass(frozen=True)
class ImageArtifact:
    """A container image a stage built or pushed: a reference and its content digest (``sha256:...``)."""

    ref: str
    digest: str


@dataclass(frozen=True)
class Retry:
    """Retry policy for transient faults: only exceptions in ``on`` are retried, within both bounds.

    Exponential backoff with jitter comes from stamina. Deterministic failures (a failing test, a bad config)
    must never be listed in ``on``.
    """

    on: type[Exception] | tuple[type[Exception], ...]
    attempts: int = 3
    timeout: float = 60.0
    wait_initial: float = 0.1
    wait_max: float = 5.0


class StageState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    CACHED = "cached"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StageSpec:
    """Everything declared about a stage. Dependencies come from ``consumes`` and ``after``.

    - ``files``: globs (relative to the root) whose contents enter the cache key.
    - ``project_files``: every file git tracks plus untracked files git does not ignore enter the key too.
    - ``exclude``: globs left out of ``files`` and ``project_files`` (e.g. the stage's own outputs).
    - ``env``: environment variable names whose values (hashed) enter the key; the stage sees only these
      through ``ctx.env``.
    - ``consumes``: upstream artifact names (an output of another stage) -> an edge from its producer.
    - ``after``: stage names this stage must follow without consuming an artifact (ordering-only edge).
    - ``produces``: the names of the outputs the function returns.
    - ``params``: fixed parameters (JSON-serialisable); they enter the key.
    - ``tools``: tool name -> version string (or argv printing it, run once per process); enters the key.
    - ``cpu``: CPU-heavy, so bounded by the run's ``cpu_limit``.
    """

    name: str
    function: StageFunction
    files: tuple[str, ...] = ()
    project_files: bool = False
    exclude: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    tools: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    cpu: bool = False
    cache: bool = False
    timeout: float | None = None
    retry: Retry | None = None
    version: str = ""
    description: str = ""


@dataclass
class StageResult:
    """What happened to one stage in one run (the JSON report and every reporter read these)."""

    name: str
    state: StageState = StageState.PENDING
    start: float | None = None
    end: float | None = None
    cache: str = "off"  # "hit", "miss", "off" or "forced"
    key: str | None = None
    miss_reason: str | None = None
    inputs: str = ""  # with --explain: what the key hashed, in one line
    origin: str = ""  # on a hit: the run that produced the entry (a CI run's URL, or user@host at a time)
    outputs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    output: str = ""
    error: str | None = None
    attempts: int = 0

    @property
    def duration(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return self.end - self.start
