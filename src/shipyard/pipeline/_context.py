"""What a stage body receives: its declared inputs, a subprocess runner wired to the run's output channels,
a logger, a summary line and cleanup hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from shipyard._command import Result, run_async
from shipyard._errors import PipelineError
from shipyard._secrets import redact
from shipyard.pipeline._cleanup import Cleanup, CleanupRegistry
from shipyard.pipeline._model import Retry

__all__ = ["StageContext"]

T = TypeVar("T")


class StageContext:
    """A stage's view of the run. Only declared inputs are visible: ``inputs`` (upstream artifacts by name),
    ``env`` (declared variables), ``params``; ``root`` is the pipeline root (every path is relative to it)."""

    def __init__(
        self,
        name: str,
        *,
        root: Path,
        inputs: Mapping[str, Any],
        env: Mapping[str, str],
        params: Mapping[str, Any],
        emit: Callable[[str], None],
        cleanups: CleanupRegistry,
    ) -> None:
        from shipyard._logging import get_logger

        self.name = name
        self.root = root
        self.inputs = dict(inputs)
        self.env = dict(env)
        self.params = dict(params)
        self.summary = ""
        self.failure: str | None = None
        self.log: Any = get_logger("pipeline").bind(stage=name)
        self._emit = emit
        self._cleanups = cleanups

    def input(self, name: str) -> Any:
        """The upstream artifact ``name``; a stage that did not declare it in ``consumes`` gets an error."""
        try:
            return self.inputs[name]
        except KeyError:
            raise PipelineError(
                f"stage {self.name!r} reads artifact {name!r} without declaring it; add it to consumes="
            ) from None

    def fail(self, reason: str) -> None:
        """Mark the stage failed once its body returns (for work that reports failure as data, e.g. a deploy
        that rolled back). Its outputs are kept in the report but not passed downstream nor cached."""
        self.failure = reason

    def print(self, text: str) -> None:
        """Add text to the stage's output (shown in full if the stage fails, grouped under GitHub Actions)."""
        for line in redact(text).splitlines() or [""]:
            self._emit(line)

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> Result:
        """Run a command in its own process group (terminated if the stage is cancelled), output captured.

        The cache's signing key is never passed on: the code a stage runs (tests, a fork's build) cannot forge
        entries with it."""
        import os

        from shipyard.pipeline._cache import SIGNING_KEY_ENV

        child = {name: value for name, value in os.environ.items() if name != SIGNING_KEY_ENV}
        child.update(env or {})
        return await run_async(
            argv, cwd=cwd or self.root, env=child, inherit_env=False, check=check, on_output=self._emit
        )

    async def retry(self, operation: str, policy: Retry, function: Callable[[], Awaitable[T]]) -> T:
        """Retry one transient operation inside the stage (a push, an AWS call) under ``policy``."""
        from shipyard.pipeline._retry import retry_call

        return await retry_call(f"{self.name}:{operation}", policy, function)

    def on_cleanup(self, callback: Cleanup, *, name: str | None = None) -> Callable[[], None]:
        """Register something to undo when the run ends (e.g. remove a temporary container)."""
        return self._cleanups.add(callback, name=name or f"{self.name}:cleanup")
