"""The registry of ``shipyard`` subcommands. Each entry imports its implementation only when it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard._cli import Command

__all__ = ["COMMANDS"]

COMMANDS: dict[str, Command] = {}
