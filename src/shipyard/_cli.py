"""The ``shipyard`` command line, and the one place where exceptions become exit codes.

Both the ``shipyard`` console script and the invoke tasks (``shipyard.tasks``) go through ``handle_errors``:
a ``ShipyardError`` prints its one-line message to stderr and exits with its code, never a traceback;
Ctrl-C exits 130. A third-party error that escaped its boundary (docker, requests, botocore, tomllib, socket)
is still one line, saying which part failed. Anything else is a bug in Shipyard, and keeps its traceback.
The line is redacted, collapsed to one line, and inert as a GitHub workflow command (docs/errors.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

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
        raise _fail(prog, str(exc), exc.exit_code) from None
    except BrokenPipeError:
        # `invoke history | head -1`: the reader has what it wanted; end quietly, as git or ls would.
        _silence_stdout()
        raise Exit("", BROKEN_PIPE) from None
    except Exception as exc:
        translated = _third_party(exc)
        if translated is None:
            raise  # a bug in Shipyard: keep the traceback
        raise _fail(prog, translated, 1) from None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)  # noqa: T201
        raise Exit(f"{prog}: interrupted", 130) from None


#: The exit code of a process ended by SIGPIPE (128 + 13), what a shell sees from `git log | head -1`.
BROKEN_PIPE = 141


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush into the closed pipe raises nothing more."""
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def quiet_broken_pipe() -> None:
    """Make a closed stdout outside any task (``invoke --list | head -1``, ``--help``) a silent exit 141.

    Installed once when Shipyard's tasks are loaded; every other uncaught exception goes to the previous hook.
    """
    previous = sys.excepthook
    if getattr(previous, "_shipyard", False):
        return

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if not issubclass(kind, BrokenPipeError):
            previous(kind, value, tb)
            return
        _silence_stdout()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os._exit(BROKEN_PIPE)  # after an uncaught exception the interpreter would exit 1

    hook._shipyard = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def _fail(prog: str, text: str, code: int) -> Exit:
    """Print the one error line (redacted, on one line, inert as a workflow command) and make the exit."""
    from shipyard._workflow_commands import safe

    # Redacted before and after joining the lines: a secret's lines could meet again on the one line.
    message = safe(f"{prog}: error: {redact(' '.join(redact(text).split()))}")
    print(_error_line(message, code), file=sys.stderr)  # noqa: T201 - the CLI is the one place that prints
    return Exit(message, code)


#: Third-party families that mean "a part is unreachable or refused", never a Shipyard bug in themselves:
#: module -> (exception class names, what to tell the user). Looked up in ``sys.modules`` only, so the CLI
#: never imports docker, botocore or requests itself.
_THIRD_PARTY = {
    "docker.errors": (("DockerException",), "the Docker engine refused or failed; check DOCKER_HOST and dockerd"),
    "requests.exceptions": (("RequestException",), "a connection failed; check the host, port and network"),
    "botocore.exceptions": (("BotoCoreError", "ClientError"), "an AWS call failed; check credentials and region"),
    "tomllib": (("TOMLDecodeError",), "a TOML file is invalid; fix its syntax"),
}


def _third_party(exc: BaseException) -> str | None:
    """A one-line message for a third-party error that escaped its boundary, or None for anything else."""
    import socket

    for module_name, (names, hint) in _THIRD_PARTY.items():
        module = sys.modules.get(module_name)
        classes = tuple(getattr(module, name) for name in names if module is not None and hasattr(module, name))
        if classes and isinstance(exc, classes):
            return f"{hint} ({type(exc).__name__}: {exc})"
    if isinstance(exc, socket.gaierror):
        return f"a host name does not resolve; fix the host ({exc})"
    if isinstance(exc, ConnectionError | TimeoutError):
        return f"a connection failed; check the host, port and network ({type(exc).__name__}: {exc})"
    return None


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
