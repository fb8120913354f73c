"""``shipyard ci generate|check|pins|plan|run`` (registered in ``shipyard._cli_commands``).

Kept free of heavy imports: the parser is built on every ``shipyard`` start; the work loads when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "generate the GitHub Actions workflows from the noxfile, check them, manage their action pins, run a job"


def _root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="project root (default: found from here)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ci_command", metavar="ACTION", required=True)
    text = "write .github/workflows from the noxfile and [tool.shipyard.ci]"
    generate = sub.add_parser("generate", help=text, description=text)
    generate.add_argument("--diff", action="store_true", help="print what would change and write nothing")
    generate.add_argument("--force", action="store_true", help="replace workflows that ci generate did not write")
    _root_option(generate)
    text = "exit 1 naming every difference between .github/workflows and the noxfile"
    _root_option(sub.add_parser("check", help=text, description=text))
    text = "list the pinned actions, or move them to a newer release (git ls-remote) and regenerate"
    pins = sub.add_parser("pins", help=text, description=text)
    pins_sub = pins.add_subparsers(dest="pins_command", metavar="ACTION", required=True)
    text = "print each pinned action, its version and SHA, and whether the project overrides it"
    _root_option(pins_sub.add_parser("list", help=text, description=text))
    text = "resolve the newest release (or --to TAG) and pin it in [tool.shipyard.ci.pins]"
    update = pins_sub.add_parser("update", help=text, description=text)
    update.add_argument("action", nargs="?", default=None, metavar="ACTION", help="owner/repo (default: every pin)")
    update.add_argument("--to", default=None, metavar="TAG", help="the release tag to pin (default: the newest)")
    _root_option(update)
    text = "print the jobs of the generated workflows, their sessions and commands"
    _root_option(sub.add_parser("plan", help=text, description=text))
    text = "run one job's commands on this machine, as CI does"
    job = sub.add_parser("run", help=text, description=text)
    job.add_argument("job", metavar="JOB", help="a job id from `shipyard ci plan`")
    job.add_argument("--shard", type=int, default=None, metavar="K", help="for a sharded job: which shard (1..N)")
    job.add_argument("--python", default=None, help="for a Python matrix: which version (default: every one)")
    _root_option(job)


def _print(text: str, *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout)


def run(args: argparse.Namespace) -> int:
    from shipyard import _pyproject

    root = args.root.resolve() if args.root else _pyproject.find_root()
    handler = {"generate": _generate, "check": _check, "pins": _pins, "plan": _plan, "run": _run}[args.ci_command]
    return handler(root, args)


def _generate(root: Path, args: argparse.Namespace) -> int:
    from shipyard import ci

    if args.diff:
        text = ci.diff(root)
        sys.stdout.write(text or "workflows already up to date\n")
        return 0
    changed = ci.generate(root, force=args.force)
    for path in changed:
        _print(f"wrote {path.relative_to(root)}")
    if not changed:
        _print("workflows already up to date")
    return 0


def _check(root: Path, _args: argparse.Namespace) -> int:
    from shipyard import ci

    drifts = ci.check(root)
    for drift in drifts:
        _print(f"shipyard ci check: {drift}", err=True)
    if drifts:
        return 1
    _print("workflows match the noxfile")
    return 0


def _pins(root: Path, args: argparse.Namespace) -> int:
    from shipyard import ci
    from shipyard.ci._pins_update import pin_rows, update_pins

    if args.pins_command == "list":
        rows = pin_rows(ci.load_config(root))
        width = max(len(row.pin.action) for row in rows)
        for row in rows:
            _print(f"{row.pin.action:<{width}}  {row.pin.version:<9} {row.pin.sha}  {row.source}")
        return 0
    updates = update_pins(root, args.action, args.to)
    for update in updates:
        _print(str(update))
    for path in ci.generate(root):
        _print(f"wrote {path.relative_to(root)}")
    return 0


def _plan(root: Path, _args: argparse.Namespace) -> int:
    from shipyard.ci._plan import plan

    for job in plan(root):
        _print(str(job))
    return 0


def _run(root: Path, args: argparse.Namespace) -> int:
    from shipyard.ci._plan import run_job

    return run_job(root, args.job, shard=args.shard, python=args.python, out=_print)
