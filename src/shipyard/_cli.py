"""The ``shipyard`` command line, and the one place where exceptions become exit codes.

Both the ``shipyard`` console script and the invoke tasks (``shipyard.tasks``) go through ``handle_errors``:
a ``ShipyardError`` prints its one-line message to stderr and exits with its code, never a traceback;
Ctrl-C exits 130. Anything else is a bug in Shipyard, and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

from shipyard._errors import ShipyardError
from shipyard._secrets import redact

__all__ = ["Exit", "handle_errors", "main"]


class Exit(SystemExit):
    """A clean exit with a message for the user (raised by ``handle_errors``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(code)
        self.message = message


def _error_line(message: str, code: int) -> str:
    """The error as one line: a JSON event when JSON lines were asked for (so stderr stays all JSON)."""
    from shipyard._logging import json_requested

    if not json_requested():
        return message
    import datetime as dt
    import json

    stamp = dt.datetime.now(dt.UTC).isoformat()
    return json.dumps({"event": "error", "level": "error", "message": message, "exit_code": code, "timestamp": stamp})


@contextlib.contextmanager
def handle_errors(prog: str = "shipyard") -> Iterator[None]:
    """Turn Shipyard's errors into a one-line message on stderr and a non-zero exit."""
    try:
        yield
    except ShipyardError as exc:
        message = f"{prog}: error: {redact(str(exc))}"
        print(_error_line(message, exc.exit_code), file=sys.stderr)  # noqa: T201 - the CLI is the one place that prints
        raise Exit(message, exc.exit_code) from None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)  # noqa: T201
        raise Exit(f"{prog}: interrupted", 130) from None


#: Subcommands: name -> (help, function that adds its arguments, function that runs it).
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _commands() -> dict[str, Command]:
    # Each capability registers its subcommands here; their modules are imported only when run.
    from shipyard import _cli_commands

    return _cli_commands.COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description="Build, push and deploy Python services.")
    parser.add_argument("--version", action="store_true", help="print Shipyard's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, run) in _commands().items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command_parser)
        command_parser.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import shipyard

        print(shipyard.__version__)  # noqa: T201
        return 0
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        with handle_errors():
            return int(args.run(args))
    except Exit as exc:
        return int(exc.code or 1)


if __name__ == "__main__":
    sys.exit(main())
