"""Fixtures for deploy tests: a moto server, throwaway projects, and a runner for the real `invoke` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing import MotoServer, moto_server

INVOKE = str(Path(sys.executable).with_name("invoke"))


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


@dataclass
class Project:
    """A throwaway project: pyproject.toml with environments and a tasks.py using Shipyard's tasks."""

    root: Path
    env: dict[str, str]

    def write(self, environments: Mapping[str, Mapping[str, Any]]) -> None:
        lines = ['[project]\nname = "deploy-test"\nversion = "0"\n']
        for name, table in environments.items():
            lines.append(f"[tool.shipyard.environments.{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            lines.append("")
        (self.root / "pyproject.toml").write_text("\n".join(lines))
        (self.root / "tasks.py").write_text("from shipyard.tasks import ns\n")

    def invoke(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [INVOKE, *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKER_"))}
    clean["CI"] = "true"  # JSON logs on stderr, as in CI
    clean["AWS_CONFIG_FILE"] = clean["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws")
    return Project(tmp_path, clean)


def assert_clean_failure(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A non-zero exit with one `invoke: error:` line naming every needle, and no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("invoke: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]
