"""The tests session's Python matrix: pyproject's versions, limited to the interpreters present."""

from __future__ import annotations

import json
import logging
import os
import subprocess
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


def test_without_classifiers_versions_come_from_requires_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[project]\nname = "x"\nversion = "1"\nrequires-python = ">={CURRENT}"\n')
    monkeypatch.setenv("SHIPYARD_LIST_ALL_PYTHONS", "1")
    listed = shipyard.nox.python_versions(path)
    assert listed[0] == CURRENT
    assert listed[-1] == shipyard.nox.NEWEST_PYTHON
    monkeypatch.delenv("SHIPYARD_LIST_ALL_PYTHONS")
    with caplog.at_level(logging.WARNING):
        assert CURRENT in shipyard.nox.python_versions(path)
    assert "no interpreter found" not in caplog.text  # versions the project never named are not warned about


def _nox_list(tmp_path: Path, pyproject: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    src = Path(shipyard.nox.__file__).resolve().parents[1]
    (tmp_path / "noxfile.py").write_text(
        f"import sys\nsys.path.insert(0, {str(src)!r})\nimport nox\nimport shipyard.nox\n\n"
        "@nox.session(python=shipyard.nox.python_versions(), venv_backend='none')\ndef t(session):\n    pass\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "nox", "-l"], cwd=tmp_path, capture_output=True, text=True, check=False
    )


def test_a_malformed_pyproject_is_one_line_from_nox(tmp_path: Path) -> None:
    result = _nox_list(tmp_path, '[project\nname = "x"\n')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"nox: error: {tmp_path / 'pyproject.toml'}: invalid TOML (")
    assert "Traceback" not in result.stderr


def test_no_versions_at_all_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    result = _nox_list(tmp_path, '[project]\nname = "x"\n')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'nox: error: pyproject.toml: project: declares no Python versions: add `requires-python` (e.g. ">=3.11") '
        "or version classifiers"
    ]


def test_the_interpreter_cache_holds_an_entry_per_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, [CURRENT, "3.99"])
    original = os.environ["PATH"]
    shipyard.nox.python_versions(path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{original}")  # as `uv run` puts .venv/bin first
    shipyard.nox.python_versions(path)
    cache = tmp_path / ".nox" / ".shipyard-pythons.json"
    assert len(json.loads(cache.read_text())["entries"]) == 2
    cache.write_text(cache.read_text().replace(f'"{CURRENT}"', '"3.99"'))  # both answers are believed now...
    assert shipyard.nox.python_versions(path) == ["3.99"]
    monkeypatch.setenv("PATH", original)
    assert shipyard.nox.python_versions(path) == ["3.99"]  # ...so neither PATH re-ran discovery


@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        (">=3.11,<3.13", ["3.11", "3.12"]),  # the upper bound was ignored: a 3.13 session uv refuses to sync
        (">=3.11,!=3.12.*", ["3.11", "3.13", "3.14"]),
        ("==3.12.*", ["3.12"]),  # was "declares no Python versions"
        (">3.11", ["3.11", "3.12", "3.13", "3.14"]),  # 3.11.1 is > 3.11
        ("<3.10", ["3.8", "3.9"]),  # no lower bound: from the oldest version sessions are made for
    ],
)
def test_requires_python_bounds_are_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requires: str, expected: list[str]
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[project]\nname = "x"\nversion = "1"\nrequires-python = "{requires}"\n')
    monkeypatch.setenv("SHIPYARD_LIST_ALL_PYTHONS", "1")
    assert shipyard.nox.python_versions(path) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3", 'project.requires-python: must be a version specifier string such as ">=3.11", got 3'),
        ('"bogus"', "project.requires-python: 'bogus' is not a version specifier (e.g. \">=3.11\")"),
        ('"<3.0"', "project.requires-python: '<3.0' allows no Python 3 version"),
    ],
)
def test_a_bad_requires_python_is_one_line_exit_2(tmp_path: Path, value: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "1"\nrequires-python = {value}\n')
    code = "import shipyard.nox; shipyard.nox.python_versions()"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0], lines[0]
