"""What init would do to a project: the files to write, the dependencies to add and the tables to append.

A plan is computed from what was detected and never touches the disk; ``_write.apply`` carries it out.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field

from shipyard._errors import ConfigError
from shipyard._init import _templates
from shipyard._init._app import App, server_requirements
from shipyard._init._detect import Project, normalize

__all__ = ["FileChange", "Options", "Plan", "free_port", "make_plan"]

#: Lower bounds for the tools the generated sessions run (uv resolves and locks the newest that fits).
LINT = ["ruff>=0.6"]
TYPECHECK = {"mypy": ["mypy>=1.10"], "pyright": ["pyright>=1.1.380"]}
TEST = ["pytest>=8"]
#: Ports a local service must never take (the machine's own registry and the usual dev proxy).
_AVOID_PORTS = {5000, 8080}


@dataclass(frozen=True)
class Options:
    app: str | None = None
    force: bool = False
    diff: bool = False
    port: int | None = None
    registry: str = "127.0.0.1:5000"
    #: How the project depends on Shipyard: a requirement, a wheel path or a git URL (what `uv add` accepts).
    shipyard: str = "shipyard"
    workflows: bool = True
    #: The environment init writes (the docker target tells environments apart by this name on an engine).
    env: str = "local"


@dataclass(frozen=True)
class FileChange:
    """One file init writes: its new text; ``append`` adds missing lines instead of replacing the file."""

    path: str
    text: str
    append: bool = False


@dataclass
class Plan:
    project: Project
    app: App | None
    files: list[FileChange] = field(default_factory=list)
    #: (group or None for runtime, requirements) for ``uv add``.
    dependencies: list[tuple[str | None, list[str]]] = field(default_factory=list)
    tables: str = ""
    lock: bool = False
    workflows: bool = False
    notes: list[str] = field(default_factory=list)
    env: str = "local"


def make_plan(project: Project, app: App | None, options: Options) -> Plan:
    plan = Plan(project=project, app=app)
    typecheck = next((tool for tool in ("mypy", "pyright") if tool in project.tools), None)
    test_group = _dependencies(plan, typecheck, options)
    text = _templates.noxfile(project, lint_format="ruff" in project.tools, typecheck=typecheck, test_group=test_group)
    plan.files.append(FileChange("noxfile.py", text))
    plan.files.append(FileChange("tasks.py", _templates.tasks_py(project)))
    if app is not None:
        plan.files.append(FileChange("Dockerfile", _templates.dockerfile(project, app)))
        plan.files.append(FileChange(".dockerignore", _templates.DOCKERIGNORE))
    plan.files.append(FileChange(".gitignore", "\n".join(_templates.GITIGNORE_LINES) + "\n", append=True))
    port = _port(plan, options)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", options.env):
        raise ConfigError(f"--env {options.env!r}: use lowercase letters, digits, _ and - (e.g. local, web-local)")
    plan.tables = _templates.shipyard_tables(project, app, port=port, registry=options.registry, env=options.env)
    plan.env = options.env
    plan.lock = bool(plan.dependencies or plan.tables) or "uv.lock" not in project.existing
    plan.workflows = options.workflows and (not project.foreign_workflows or options.force)
    if options.workflows and project.git_root is not None and project.git_root != project.root:
        plan.workflows = False
        where = project.root.relative_to(project.git_root)
        plan.notes.append(
            f"the project is {where}/ of the git repository at {project.git_root}: GitHub reads workflows only at "
            "the repository root, so none was generated here; write one there that runs the sessions with "
            f"`working-directory: {where}`"
        )
    if project.foreign_workflows and not options.force:
        plan.notes.append(
            f"kept .github/workflows/{', '.join(project.foreign_workflows)}: hand-written, so no workflow was "
            "generated beside it; `shipyard ci generate` writes them when you are ready (or init --force)"
        )
    if app is not None:
        plan.notes.extend(_packaging_notes(project))
        if ".dockerignore" in project.existing and not options.force:
            plan.notes.extend(_dockerignore_notes(project))
    return plan


def _dependencies(plan: Plan, typecheck: str | None, options: Options) -> str | None:
    """Add the server and the sessions' groups to ``plan``; returns the group the tests session installs."""
    project = plan.project
    runtime = server_requirements(plan.app, project)
    if runtime and "dependencies" in project.data["project"].get("dynamic", []):
        plan.notes.append(
            f"[project] dependencies are dynamic, so init cannot add {', '.join(runtime)}: add them where your "
            "build backend reads dependencies from, or the image cannot serve the app"
        )
    elif runtime:
        plan.dependencies.append((None, runtime))
    if "lint" not in project.groups:
        plan.dependencies.append(("lint", LINT))
    if typecheck and "typecheck" not in project.groups:
        plan.dependencies.append(("typecheck", TYPECHECK[typecheck]))
    has_tests = project.tests_dir is not None or "pytest" in project.tools
    test_group = _group_with(project, "pytest")
    itself = normalize(project.name) == "shipyard"  # Shipyard's own checkout does not depend on itself
    if has_tests and test_group is None:
        test_group = "test"
        plan.dependencies.append(("test", TEST if itself else [*TEST, options.shipyard]))
    elif has_tests and test_group is not None and not itself and not _names(project.groups[test_group], "shipyard"):
        plan.dependencies.append((test_group, [options.shipyard]))  # the pytest plugin's fixtures
    if not itself and not _names(project.groups.get("dev", []), "shipyard") and test_group != "dev":
        plan.dependencies.append(("dev", [options.shipyard]))
    return test_group


def _port(plan: Plan, options: Options) -> int:
    port = options.port or free_port()
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: not a TCP port; pass 1-65535 (or omit it for a free one)")
    if "://" in options.registry or not options.registry.strip("/"):
        raise ConfigError(f"--registry {options.registry!r}: pass host:port without a scheme, e.g. 127.0.0.1:5000")
    if options.port and _in_use(port):
        plan.notes.append(f"port {port} is in use right now: the local deploy needs it free")
    return port


def _packaging_notes(project: Project) -> list[str]:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    notes = []
    try:
        excluded = bool(project.requires_python) and "3.11" not in SpecifierSet(project.requires_python)
    except InvalidSpecifier:
        excluded = False
    if excluded:
        notes.append(
            f"requires-python {project.requires_python} excludes the base image's Python 3.11: set BASE_IMAGE "
            "(build-args) and python in [tool.shipyard.images.*] to an image with a Python it allows"
        )
    if project.data.get("tool", {}).get("uv", {}).get("package") is False:
        notes.append("[tool.uv] package = false: the project builds no wheel, so the image cannot install it")
    if not project.has_build_system:
        notes.append("pyproject.toml has no [build-system]: the image needs the project's wheel; add one (hatchling)")
    return notes


def _dockerignore_notes(project: Project) -> list[str]:
    """A kept .dockerignore that sends the venvs into every build context (slow builds, huge contexts)."""
    try:
        lines = (project.root / ".dockerignore").read_text(errors="replace").splitlines()
    except OSError:
        return []
    patterns = {line.strip().strip("/").removeprefix("**/") for line in lines}
    missing = [name for name in (".venv", ".nox") if name not in patterns and "*" not in patterns]
    if not missing:
        return []
    return [
        f".dockerignore (kept) does not exclude {', '.join(missing)}: every image build sends them to the engine; "
        "add them (the image installs from artifacts/, not the work tree)"
    ]


def _group_with(project: Project, name: str) -> str | None:
    """The dependency group that already holds ``name`` (``test`` first, then the others)."""
    for group in sorted(project.groups, key=lambda g: g not in {"test", "tests"}):
        if _names(project.groups[group], name):
            return group
    return None


def _names(requirements: list[object], name: str) -> bool:
    return any(isinstance(req, str) and req.replace(" ", "").lower().startswith(name) for req in requirements)


def _in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A port nothing listens on now (never 5000 or 8080), for the ``local`` environment."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _AVOID_PORTS:
            return port
