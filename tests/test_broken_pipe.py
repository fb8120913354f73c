"""Output piped to a reader that goes away (``invoke history | head -1``) ends silently, never in a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

INVOKE = str(Path(sys.executable).with_name("invoke"))
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
PYPROJECT = """\
[project]
name = "pipeapp"
version = "1.0"

[tool.shipyard.environments.staging]
target = "docker"
image = "pipeapp"
port = 1234
default = true
"""


@pytest.mark.parametrize(
    "argv",
    [
        (INVOKE, "--list"),
        (INVOKE, "history"),
        (INVOKE, "history", "--json"),
        (INVOKE, "image.build", "--help"),
        (SHIPYARD, "--help"),
    ],
    ids=lambda argv: " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv)),
)
def test_a_closed_pipe_on_stdout_is_silent(argv: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "tasks.py").write_text("from shipyard.tasks import ns\n")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: every write is EPIPE
    try:
        proc = subprocess.run(
            argv, cwd=tmp_path, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, check=False
        )
    finally:
        os.close(write)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode in (0, 141), proc.returncode  # 141 = 128 + SIGPIPE, as git or ls would end
