"""Reading the default sessions from `nox -l --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard._errors import CommandFailed, ConfigError
from shipyard.ci import NoxSession, list_sessions, parse_listing

from .conftest import MakeProject


def test_listing_of_a_fixture_noxfile_has_default_sessions_only(make_project: MakeProject) -> None:
    sessions = list_sessions(make_project())
    assert [(s.session, s.name, s.python) for s in sessions] == [
        ("lint", "lint", None),
        ("tests-3.11", "tests", "3.11"),
        ("tests-3.12", "tests", "3.12"),
    ]
    assert sessions[0].description == "Lint."


def test_noxsession_env_var_does_not_narrow_the_listing(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOXSESSION", "lint")
    assert [s.session for s in list_sessions(make_project())] == ["lint", "tests-3.11", "tests-3.12"]


def test_nox_options_sessions_decides_the_defaults(make_project: MakeProject) -> None:
    noxfile = "import nox\nnox.options.sessions = ['b']\n@nox.session\ndef a(s): pass\n@nox.session\ndef b(s): pass\n"
    assert [s.session for s in list_sessions(make_project(noxfile))] == ["b"]


def test_log_lines_around_the_json_are_ignored() -> None:
    listing: list[dict[str, object]] = [
        {"session": "lint", "name": "lint", "description": "", "python": None, "tags": [], "call_spec": {}}
    ]
    output = "nox > shipyard: no interpreter found for Python 3.13\n" + json.dumps(listing) + "\n"
    assert parse_listing(output) == [NoxSession("lint", "lint", None, "")]


def test_output_without_json_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match=r"noxfile.py: no JSON session list in the output \(boom\)") as info:
        parse_listing("something\nboom\n", source="noxfile.py")
    assert "\n" not in str(info.value)


def test_missing_noxfile_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"noxfile.py does not exist"):
        list_sessions(tmp_path)


def test_a_noxfile_that_fails_to_load_raises_command_failed(make_project: MakeProject) -> None:
    with pytest.raises(CommandFailed) as info:
        list_sessions(make_project("import nox\nraise RuntimeError('broken noxfile')\n"))
    assert "--list-sessions" in str(info.value)
    assert "broken noxfile" in info.value.output
