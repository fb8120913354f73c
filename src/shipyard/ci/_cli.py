"""``shipyard ci generate`` and ``shipyard ci check`` (registered in ``shipyard._cli_commands``).

Kept free of heavy imports: the parser is built on every ``shipyard`` start; the work loads when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "generate the GitHub Actions workflows from the noxfile, or check that they still match it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ci_command", metavar="ACTION", required=True)
    for name, text in (
        ("generate", "write .github/workflows from the noxfile and [tool.shipyard.ci]"),
        ("check", "exit 1 naming every difference between .github/workflows and the noxfile"),
    ):
        action = sub.add_parser(name, help=text, description=text)
        action.add_argument("--root", type=Path, default=None, help="project root (default: found from here)")


def run(args: argparse.Namespace) -> int:
    from shipyard import _pyproject, ci

    root = args.root.resolve() if args.root else _pyproject.find_root()
    if args.ci_command == "generate":
        changed = ci.generate(root)
        for path in changed:
            print(f"wrote {path.relative_to(root)}")  # noqa: T201 - the CLI reports to its user
        if not changed:
            print("workflows already up to date")  # noqa: T201
        return 0
    drifts = ci.check(root)
    for drift in drifts:
        print(f"shipyard ci check: {drift}", file=sys.stderr)  # noqa: T201
    if drifts:
        return 1
    print("workflows match the noxfile")  # noqa: T201
    return 0
