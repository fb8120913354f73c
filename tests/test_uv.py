"""The uv sync command a selection produces, and the one-line reasons for its failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import SyncError
from shipyard._fingerprint import Selection
from shipyard._uv import explain_failure, sync_argv, validate_selection

UV = Path("/opt/uv")
PY = Path("/venv/bin/python")


def test_groups_with_the_project_use_group_flags() -> None:
    argv = sync_argv(UV, Selection(groups=("test",), extras=("aws",)), PY)
    assert argv == [
        "/opt/uv", "sync", "--locked", "--no-default-groups", "--python", "/venv/bin/python",
        "--group", "test", "--extra", "aws",
    ]  # fmt: skip


def test_without_the_project_only_the_groups_are_installed() -> None:
    argv = sync_argv(UV, Selection(groups=("lint",), install_project=False), PY)
    assert argv[-2:] == ["--only-group", "lint"]
    assert "--group" not in argv


def test_a_workspace_member_is_selected_with_package() -> None:
    assert sync_argv(UV, Selection(package="hello-service"), PY)[-2:] == ["--package", "hello-service"]


PYPROJECTS = {
    "pyproject.toml": {
        "project": {"name": "root", "optional-dependencies": {"aws": ["boto3"]}},
        "dependency-groups": {"lint": ["ruff"], "test": ["pytest"]},
    },
    "examples/svc/pyproject.toml": {"project": {"name": "svc"}, "dependency-groups": {"serve": ["uvicorn"]}},
}


def test_an_unknown_group_names_the_group_the_file_and_the_defined_ones() -> None:
    with pytest.raises(SyncError) as info:
        validate_selection(Selection(groups=("lnt",)), PYPROJECTS, session="lint")
    message = str(info.value)
    assert "session 'lint' names dependency group 'lnt'" in message
    assert "pyproject.toml [dependency-groups]" in message
    assert "(defined: lint, test)" in message
    assert "\n" not in message


def test_an_unknown_extra_and_package_are_named() -> None:
    with pytest.raises(SyncError, match="names extra 'gcp'"):
        validate_selection(Selection(extras=("gcp",)), PYPROJECTS, session="tests")
    with pytest.raises(SyncError, match=r"names package 'nope'.*members: root, svc"):
        validate_selection(Selection(package="nope"), PYPROJECTS, session="tests")


def test_a_members_groups_are_checked_against_that_member() -> None:
    validate_selection(Selection(groups=("serve",), package="svc"), PYPROJECTS, session="serve")
    with pytest.raises(SyncError, match=r"examples/svc/pyproject\.toml"):
        validate_selection(Selection(groups=("lint",), package="svc"), PYPROJECTS, session="lint")


def test_a_stale_lock_is_explained_in_one_line() -> None:
    output = (
        "Resolved 3 packages in 5ms\n"
        "error: The lockfile at `uv.lock` needs to be updated, but `--locked` was provided. "
        "To update the lockfile, run `uv lock`.\n"
    )
    assert explain_failure(output, session="lint") == (
        "uv.lock is out of date with pyproject.toml: run `uv lock` and commit uv.lock"
    )


def test_other_failures_keep_uvs_error_line() -> None:
    output = "  Downloading\nerror: Failed to fetch: `https://example.invalid/simple/six/`\n  Caused by: dns\n"
    message = explain_failure(output, session="tests")
    assert (
        message == "`uv sync` failed for session 'tests': error: Failed to fetch: `https://example.invalid/simple/six/`"
    )
