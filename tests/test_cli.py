"""The CLI is the one place errors become exit codes: one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shipyard import ConfigError, ShipyardError
from shipyard._cli import Exit, handle_errors, main


def test_a_shipyard_error_is_one_line_on_stderr_with_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exit) as info, handle_errors():
        raise ConfigError("unknown key 'x'", file="pyproject.toml", key="tool.shipyard.x")
    assert info.value.code == 2
    assert capsys.readouterr().err == "shipyard: error: pyproject.toml: tool.shipyard.x: unknown key 'x'\n"


def test_other_errors_are_bugs_and_keep_their_traceback() -> None:
    with pytest.raises(ZeroDivisionError), handle_errors():
        _ = 1 / 0


def test_version_and_help() -> None:
    import shipyard

    assert main(["--version"]) == 0
    assert shipyard.__version__ == "0.1.0"
    assert isinstance(ShipyardError("x"), Exception)


def test_the_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "shipyard", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0.1.0"
