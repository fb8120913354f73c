"""``shipyard init`` (registered in ``shipyard._cli_commands``): arguments, and the report it prints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["HELP", "add_arguments", "default_shipyard_requirement", "portable", "run"]

HELP = "add lockfile-bound sessions, tasks, an image, a local environment and CI to an existing project"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="the project's root (default: the current directory)")
    parser.add_argument(
        "--app", default=None, help="the app to serve: module:attr or module:factory() (default: found)"
    )
    parser.add_argument("--force", action="store_true", help="replace files that exist with what init writes")
    parser.add_argument("--diff", action="store_true", help="show what init would change, and change nothing")
    parser.add_argument("--port", type=int, default=None, help="the local environment's port (default: a free one)")
    parser.add_argument("--registry", default="127.0.0.1:5000", help="the local environment's registry")
    parser.add_argument(
        "--shipyard",
        default=None,
        help="how the project depends on Shipyard, as `uv add` takes it: a wheel path, 'shipyard @ git+URL', or "
        "'shipyard>=X' (default: where this Shipyard was installed from)",
    )
    parser.add_argument("--env", default="local", help="the name of the environment init writes (default: local)")
    parser.add_argument("--no-workflows", action="store_true", help="do not generate .github/workflows")
    parser.add_argument("--json", action="store_true", help="print what was done as JSON")


def run(args: argparse.Namespace) -> int:
    from shipyard._init import Options, init, next_commands

    root = (args.root or Path.cwd()).resolve()
    from shipyard._init import detect
    from shipyard._init._detect import normalize

    project = detect(root)  # a missing or broken pyproject.toml is the first thing to say
    if args.shipyard is None and normalize(project.name) != "shipyard":  # Shipyard's checkout needs no dependency
        args.shipyard = default_shipyard_requirement()
    options = Options(
        app=args.app,
        force=args.force,
        diff=args.diff,
        port=args.port,
        registry=args.registry,
        shipyard=portable(args.shipyard or "shipyard", root),
        workflows=not args.no_workflows,
        env=getattr(args, "env", "local"),
    )
    made, report = init(root, options)
    if options.shipyard.endswith(".whl") and Path(options.shipyard).is_absolute():
        report.add(
            "note",
            "",
            f"Shipyard comes from {options.shipyard}, outside the project: uv.lock is valid on this machine only; "
            "commit the wheel under the project (e.g. vendor/) or use a git URL (README: How to depend on Shipyard)",
        )
    if args.json:
        print(json.dumps({"lines": report.lines, "diff": report.diff, "next": next_commands(made)}, indent=2))  # noqa: T201
        return 0
    out = sys.stdout
    if made.app:
        print(f"app: {made.app.target} ({made.app.kind}, found in {made.app.found_in})", file=out)
    else:
        print("no app found: sessions and CI only (pass --app module:attr to serve one)", file=out)
    if options.diff:
        print("\n".join(report.diff) if report.diff else "nothing to change", file=out)
        return 0
    for action, path, detail in report.lines:
        text = f"{action:8} {path}" + (f"  ({detail})" if detail and path else detail)
        print(text.rstrip(), file=out)
    if not report.changed:
        print("nothing to change: the project already has everything init writes", file=out)
    print("next:", file=out)
    for command in next_commands(made):
        print(f"  {command}", file=out)
    return 0


def portable(requirement: str, root: Path) -> str:
    """A wheel inside the project as a ``./relative`` path, so the lock records it relative to the project."""
    if not requirement.endswith(".whl"):
        return requirement
    path = Path(requirement)
    resolved = (root / path).resolve() if not path.is_absolute() else path.resolve()
    if resolved.is_relative_to(root):
        return f"./{resolved.relative_to(root)}"
    return str(resolved)


def default_shipyard_requirement() -> str:
    """Where the running Shipyard came from (PEP 610 direct_url.json): a git URL or a wheel; else ``shipyard``."""
    from importlib import metadata

    try:
        text = metadata.distribution("shipyard").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return "shipyard"
    if not text:
        return "shipyard"
    info = json.loads(text)
    url = str(info.get("url", ""))
    if vcs := info.get("vcs_info"):
        return f"shipyard @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}".rstrip("@")
    if url.startswith("file://") and url.endswith(".whl"):
        return url.removeprefix("file://")
    if "dir_info" in info:
        from shipyard._errors import ConfigError

        raise ConfigError(
            f"this Shipyard runs from a checkout ({url.removeprefix('file://')}), which other machines lack, and a "
            "bare `shipyard` would come from PyPI: pass --shipyard with a wheel (`uv build --wheel` there) or "
            "'shipyard @ git+URL'"
        )
    return "shipyard"
