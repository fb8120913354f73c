"""Finding the app a project serves: a WSGI or ASGI callable, or a ``[project.scripts]`` entry that reads $PORT.

The project's code is parsed (``ast``), never imported: init must not run a stranger's code.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shipyard._errors import ConfigError
from shipyard._init._detect import Project, normalize

__all__ = ["App", "find_app", "parse_app", "server_requirements"]

Kind = Literal["wsgi", "asgi", "script"]

#: Constructors of app objects, by the framework module they come from.
_FRAMEWORKS: dict[str, Kind] = {
    "flask": "wsgi",
    "django": "wsgi",
    "bottle": "wsgi",
    "pyramid": "wsgi",
    "falcon": "wsgi",
    "fastapi": "asgi",
    "starlette": "asgi",
    "quart": "asgi",
    "litestar": "asgi",
}
_CONSTRUCTORS = {"Flask", "FastAPI", "Starlette", "Quart", "Litestar", "Bottle", "App", "API"}
_FACTORIES = ("create_app", "make_app", "app_factory")
_OBJECTS = ("app", "application", "api")
#: Where an app usually lives; these files are looked at first.
_PREFERRED = ("__init__.py", "app.py", "main.py", "wsgi.py", "asgi.py", "server.py", "web.py")
_MAX_FILES = 300


@dataclass(frozen=True)
class App:
    """What to serve: ``target`` is ``module:attr`` (``module:factory()`` for a factory), or a script name."""

    kind: Kind
    target: str
    #: How it was found, for the report.
    found_in: str
    #: The route the deploy health check asks (a 2xx is healthy): a health route the app declares, else "/".
    health_path: str = "/"

    @property
    def server(self) -> str | None:
        """The runtime dependency that serves it (``None``: the script serves itself)."""
        return {"wsgi": "gunicorn", "asgi": "uvicorn", "script": None}[self.kind]


def parse_app(spec: str, project: Project) -> App:
    """``--app module:attr`` (or ``module:factory()``): checked against the project's files, kind from its deps."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"--app {spec!r}: expected module:attr, e.g. myapp.web:app or myapp:create_app()")
    path = _module_path(project, module)
    if path is None:
        raise ConfigError(f"--app {spec!r}: no module {module!r} in {project.root}; name a module of the project")
    where = str(path.relative_to(project.root))
    problem = _unservable(_parse(path), attr)
    if problem:
        raise ConfigError(f"--app {spec!r}: {where} {problem}")
    kind = _kind_of(_imports(path), project)
    return App(kind=kind, target=spec, found_in=where)


def _unservable(tree: ast.Module | None, attr: str) -> str | None:
    """Why ``attr`` (``name`` or ``name()``) of a module cannot be served, judged from its top-level statements."""
    factory = attr.endswith("()")
    name = attr.removesuffix("()")
    node = _definition(tree, name) if tree is not None and name.isidentifier() else None
    problem: str | None = None
    if tree is None:
        problem = "cannot be parsed; fix its syntax"
    elif node is None:
        problem = f"defines no {name!r}; name an app object or a factory defined (or imported) there"
    elif isinstance(node, ast.Import | ast.ImportFrom):
        problem = None  # defined elsewhere: init cannot tell, and trusts the user
    elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant):
        problem = f"{name!r} is a constant, not an app; name an app object or a factory"
    elif factory and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        problem = f"{name!r} is not a function, so {attr!r} cannot call it; pass {name} (the app object) instead"
    elif factory and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (required := _required(node)):
        problem = (
            f"{name}() needs arguments ({', '.join(required)}): give them defaults, or name a factory that takes "
            "none or the app object"
        )
    return problem


def _definition(tree: ast.Module, name: str) -> ast.stmt | None:
    """The last top-level statement that binds ``name`` (what the module attribute is once it is imported)."""
    return next((node for node in reversed(tree.body) if name in _bound(node)), None)


def _bound(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {alias.asname or alias.name.split(".")[0] for alias in node.names}
    return set()


def _required(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The parameters of ``function`` a call without arguments would leave unbound."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    required = [arg.arg for arg in positional[: len(positional) - len(args.defaults)]]
    keyword = zip(args.kwonlyargs, args.kw_defaults, strict=True)
    return required + [arg.arg for arg, default in keyword if default is None]


def find_app(project: Project, notes: list[str] | None = None) -> App | None:
    """The first WSGI/ASGI callable in the project's packages, else a server script; ``None`` for a library.

    What the choice left out (another candidate, a factory that needs arguments) is appended to ``notes``.
    """
    modules = _modules(project)
    found: list[App] = []
    unusable: list[str] = []
    for module, path in modules:
        apps, problems = _apps_in(path, module, project)
        found.extend(apps)
        unusable.extend(problems)
    if not found:
        if notes is not None:
            notes.extend(unusable)
        return _script_app(project)
    chosen, others = found[0], found[1:]
    if others and notes is not None:
        notes.append(
            f"also found {', '.join(f'{app.target} ({app.kind}, {app.found_in})' for app in others)}: init serves "
            f"{chosen.target}; pass --app module:attr to serve another"
        )
    return dataclasses.replace(chosen, health_path=_health_path(path for _, path in modules))


#: Health routes, best first; "/" when the app declares none of them.
_HEALTH_ROUTES = ("/healthz", "/health", "/livez", "/ping", "/")


def _health_path(paths: Iterable[Path]) -> str:
    """The best health route among those the app's route decorators declare (``@app.get("/healthz")``...)."""
    declared: set[str] = set()
    for path in paths:
        tree = _parse(path)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and decorator.args:
                        first = decorator.args[0]
                        if isinstance(first, ast.Constant) and isinstance(first.value, str):
                            declared.add(first.value)
    return next((route for route in _HEALTH_ROUTES if route in declared), "/")


def _modules(project: Project) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for name, location in project.packages.items():
        if location.is_file():
            found.append((name, location))
            continue
        files = sorted(location.rglob("*.py"), key=lambda p: (len(p.parts), p.name not in _PREFERRED, p.name))
        for path in files[:_MAX_FILES]:
            parts = path.relative_to(location.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if any(part.startswith("test") for part in parts):
                continue
            found.append((".".join(parts), path))
    return found


def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return None


def _imports(path: Path) -> set[str]:
    tree = _parse(path)
    names: set[str] = set()
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _kind_of(imports: set[str], project: Project) -> Kind:
    for module, kind in _FRAMEWORKS.items():
        if module in imports:
            return kind
    for module, kind in _FRAMEWORKS.items():
        if project.depends_on(module):
            return kind
    return "wsgi"


def _apps_in(path: Path, module: str, project: Project) -> tuple[list[App], list[str]]:
    """The app objects and zero-argument factories ``path`` defines, and why other factories cannot be served."""
    tree = _parse(path)
    if tree is None:
        return [], []
    imports = _imports(path)
    if not imports & set(_FRAMEWORKS):
        return [], []
    kind = _kind_of(imports, project)
    where = str(path.relative_to(project.root))
    objects = [
        App(kind=kind, target=f"{module}:{target.id}", found_in=where)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _constructs_app(node.value)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in _OBJECTS
    ]
    if objects:
        return objects[:1], []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in _FACTORIES:
            if required := _required(node):
                return [], [
                    f"{module}:{node.name}() needs arguments ({', '.join(required)}), so init does not serve it: "
                    f"give them defaults and run init again, or pass --app module:attr"
                ]
            return [App(kind=kind, target=f"{module}:{node.name}()", found_in=where)], []
    return [], []


def _constructs_app(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in _CONSTRUCTORS


def _script_app(project: Project) -> App | None:
    """A console script whose module reads ``PORT``: it serves itself (the deploy contract)."""
    for script, entry in project.scripts.items():
        module = entry.partition(":")[0].strip()
        path = _module_path(project, module)
        tree = _parse(path) if path else None
        if tree is None or path is None:
            continue
        if any(isinstance(node, ast.Constant) and node.value == "PORT" for node in ast.walk(tree)):
            return App(kind="script", target=script, found_in=str(path.relative_to(project.root)))
    return None


def _module_path(project: Project, module: str) -> Path | None:
    base = project.root / "src" if project.layout == "src" else project.root
    relative = Path(*module.split("."))
    for candidate in (base / relative / "__init__.py", (base / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def server_requirements(app: App | None, project: Project) -> list[str]:
    """Runtime dependencies the image needs to serve ``app`` that the project does not declare yet."""
    if app is None or app.kind == "script":
        return []
    # The deploy contract is the ordinary one (listen on $PORT): gunicorn for WSGI, plain uvicorn for ASGI.
    wanted = ["gunicorn>=23"] if app.kind == "wsgi" else ["uvicorn>=0.30"]
    return [req for req in wanted if not project.depends_on(normalize(req.split(">")[0]))]
