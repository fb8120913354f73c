"""Fixtures of the output tests: a real terminal (tmux with a server of its own)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from shipyard.testing import require

from ._terminal import Terminal


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        require("tmux is not installed (ci/report-tools.sh installs it)")
    term = Terminal(f"shipyard-i14-{uuid.uuid4().hex[:8]}")
    yield term
    subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, check=False, timeout=30)
