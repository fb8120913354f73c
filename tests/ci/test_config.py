"""[tool.shipyard.ci]: defaults, and one-line errors naming the file and key."""

from __future__ import annotations

import pytest

from shipyard._errors import ConfigError
from shipyard.ci import CiConfig, load_config

from .conftest import MakeProject


def test_no_table_means_defaults(make_project: MakeProject) -> None:
    assert load_config(make_project()) == CiConfig()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("runs_on = 'x'", r"tool.shipyard.ci.runs_on: unknown key 'runs_on'; allowed keys are: "),
        ("deploy = 'yes'", r"tool.shipyard.ci.deploy: must be bool, got str 'yes'"),
        ("setup-sessions = [1]", r"tool.shipyard.ci.setup-sessions: must be a list of session names"),
        ("setup-sessions = ['tests']", r"tool.shipyard.ci.setup: setup-sessions is set but setup is empty"),
        ("timeout-minutes = 0", r"tool.shipyard.ci.timeout-minutes: must be a positive number of minutes"),
    ],
)
def test_bad_values_are_one_line_errors(make_project: MakeProject, table: str, message: str) -> None:
    root = make_project(config=f"[tool.shipyard.ci]\n{table}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(root)
    assert str(root / "pyproject.toml") in str(info.value)
    assert "\n" not in str(info.value)
