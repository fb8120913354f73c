"""Fixtures for the pipeline tests: a project root and run options that record every event."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.pipeline import CleanupRegistry, RunOptions
from shipyard.testing import RecordingReporter


@pytest.fixture
def recorder() -> RecordingReporter:
    return RecordingReporter()


@pytest.fixture
def options(tmp_path: Path, recorder: RecordingReporter) -> RunOptions:
    return RunOptions(root=tmp_path, reporters=[recorder], environ={}, cleanup=CleanupRegistry())
