"""``shipyard report`` (registered in ``shipyard._cli_commands``): argparse only here; the work loads when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "write one self-contained HTML report of pipeline runs (timelines, durations) and deploy history"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="project root (default: found from here)")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="where to write it (default: .shipyard/report.html)"
    )
    parser.add_argument("--since", default="", help="only runs and deploys since: 30m, 12h, 7d, 2w or a date")
    parser.add_argument(
        "--env",
        action="append",
        default=None,
        metavar="NAME",
        help="read this environment's deploy history (repeat it; default: every environment)",
    )
    parser.add_argument("--no-history", action="store_true", help="leave deploy history out (no target is asked)")
    parser.add_argument("--open", action="store_true", help="open the report in a browser")


def run(args: argparse.Namespace) -> int:
    import time

    from shipyard import _pyproject
    from shipyard._errors import ConfigError
    from shipyard._report import build_report, parse_since, write_report

    root = args.root.resolve() if args.root else _pyproject.find_root()
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", key="--root")
    since = parse_since(args.since, now=time.time()) if args.since else None
    environments = None
    read = None
    if not args.no_history:
        from shipyard.deploy import history, load_environments

        environments = load_environments(root)
        if args.env:
            unknown = [name for name in args.env if name not in environments]
            if unknown:
                known = ", ".join(environments) or "none"
                raise ConfigError(f"no environment {unknown[0]!r} (known: {known})", key="--env")
            environments = {name: environments[name] for name in args.env}
        read = history
    data = build_report(root / ".shipyard" / "runs", environments=environments, read_history=read, since=since)
    output = args.output if args.output is not None else root / ".shipyard" / "report.html"
    if output.is_dir():  # into the directory, as cp would
        output = output / "report.html"
    try:
        path = write_report(data, output.resolve())
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}", key="--output") from None
    deploys = sum(len(d) for d in data.deploys.values())
    size = path.stat().st_size / 1_000_000
    print(f"wrote {path} ({len(data.runs)} runs, {deploys} deploys, {size:.1f} MB)")  # noqa: T201 - the CLI reports
    for note in data.notes:
        print(f"shipyard report: {note}")  # noqa: T201
    if args.open:
        import sys
        import webbrowser

        try:
            opened = webbrowser.open(path.as_uri())
        except webbrowser.Error:
            opened = False
        if not opened:  # the report is written; say where, rather than pretend it opened
            print(f"shipyard report: no browser found to open it; open {path.as_uri()} in one", file=sys.stderr)  # noqa: T201
    return 0
