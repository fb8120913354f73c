"""Running a pipeline in a test: stage order, outputs and the report, with no reporter output on the terminal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.testing._pipeline import RecordingReporter

if TYPE_CHECKING:
    from shipyard.pipeline import Pipeline, RunReport

__all__ = ["PipelineRun", "PipelineRunner"]


@dataclass(frozen=True)
class PipelineRun:
    """One finished run: the report, and what the recording reporter saw."""

    report: RunReport
    recorder: RecordingReporter

    @property
    def order(self) -> list[str]:
        """Stage names in the order they started."""
        return self.recorder.started()

    def outputs(self, stage: str) -> dict[str, Any]:
        """What ``stage`` returned (its declared outputs)."""
        return dict(self.report.stage(stage).outputs)

    def lines(self, stage: str) -> list[str]:
        """The output lines ``stage`` printed."""
        return self.recorder.output(stage)

    @property
    def ok(self) -> bool:
        return self.report.ok


@dataclass(frozen=True)
class PipelineRunner:
    """Runs pipelines under ``root`` (their cache and run reports stay there), recording every event."""

    root: Path

    def __call__(self, pipeline: Pipeline, *, targets: list[str] | None = None, **options: Any) -> PipelineRun:
        from shipyard.pipeline import run_pipeline

        recorder = RecordingReporter()
        options.setdefault("reporters", [recorder])
        report = run_pipeline(pipeline, targets=targets, root=self.root, check=False, **options)
        return PipelineRun(report, recorder)
