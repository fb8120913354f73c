"""The tests session's Python matrix: pyproject's versions, limited to the interpreters present."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import shipyard.nox

CURRENT = f"{sys.version_info.major}.{sys.version_info.minor}"


def write(tmp_path: Path, classifiers: list[str], requires: str = ">=3.8") -> Path:
    lines = ",\n".join(f'  "Programming Language :: Python :: {v}"' for v in classifiers)
    path = tmp_path / "pyproject.toml"
    path.write_text(
        f'[project]\nname = "x"\nversion = "1"\nrequires-python = "{requires}"\nclassifiers = [\n{lines}\n]\n'
    )
    return path


def test_present_versions_are_kept_and_missing_ones_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, [CURRENT, "3.99"])
    with caplog.at_level(logging.WARNING):
        versions = shipyard.nox.python_versions(path)
    assert versions == [CURRENT]
    assert "no interpreter found for Python 3.99" in caplog.text
    assert "uv python install 3.99" in caplog.text


def test_the_answer_is_cached_against_path(tmp_path: Path) -> None:
    path = write(tmp_path, [CURRENT, "3.99"])
    shipyard.nox.python_versions(path)
    cache = tmp_path / ".nox" / ".shipyard-pythons.json"
    assert cache.is_file()
    cache.write_text(cache.read_text().replace(f'"{CURRENT}"', '"3.99"'))  # a cached answer is believed...
    assert shipyard.nox.python_versions(path) == ["3.99"]


def test_with_nothing_present_the_running_interpreter_is_used(tmp_path: Path) -> None:
    assert shipyard.nox.python_versions(write(tmp_path, ["3.98", "3.99"])) == [CURRENT]


def test_listing_for_ci_keeps_every_supported_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_LIST_ALL_PYTHONS", "1")
    assert shipyard.nox.python_versions(write(tmp_path, [CURRENT, "3.99"])) == [CURRENT, "3.99"]
