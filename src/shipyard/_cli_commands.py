"""The registry of ``shipyard`` subcommands. Each entry imports its implementation only when it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._report import _cli as _report_cli  # argparse only, like ci
from shipyard.ci import _cli as _ci_cli  # argparse only; the work loads when the command runs

if TYPE_CHECKING:
    from shipyard._cli import Command

__all__ = ["COMMANDS"]

COMMANDS: dict[str, Command] = {}
COMMANDS["ci"] = (_ci_cli.HELP, _ci_cli.add_arguments, _ci_cli.run)

from shipyard._init import _cli as _init_cli  # noqa: E402 - argparse only, like ci's

COMMANDS["init"] = (_init_cli.HELP, _init_cli.add_arguments, _init_cli.run)
COMMANDS["report"] = (_report_cli.HELP, _report_cli.add_arguments, _report_cli.run)
