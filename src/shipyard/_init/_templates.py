"""The text of the files init writes: noxfile.py, tasks.py, Dockerfile, .dockerignore, .gitignore lines and the
``[tool.shipyard]`` tables. Pure functions of what was detected; nothing here touches the disk.
"""

from __future__ import annotations

import json

from shipyard._init._app import App
from shipyard._init._detect import Project, normalize

__all__ = [
    "DOCKERIGNORE",
    "GITIGNORE_LINES",
    "dockerfile",
    "noxfile",
    "shipyard_tables",
    "tasks_py",
]

GITIGNORE_LINES = (".shipyard/", ".nox/", ".venv/", "dist/", "reports/", "__pycache__/")

DOCKERIGNORE = """\
# Written by `shipyard init`. Shipyard builds images from artifacts (the wheel and the locked wheelhouse it adds
# under artifacts/), so nothing of the work tree needs to be in the build context but the Dockerfile.
*
!Dockerfile
"""


def noxfile(project: Project, *, lint_format: bool, typecheck: str | None, test_group: str | None) -> str:
    """A noxfile of lockfile-bound sessions: lint, typecheck (when configured), tests, build, lock."""
    sessions = ["lint", *(["typecheck"] if typecheck else []), *(["tests"] if test_group else []), "build", "lock"]
    has_classifiers = any(
        str(c).startswith("Programming Language :: Python :: 3.")
        for c in project.data["project"].get("classifiers", [])
    )
    if has_classifiers:
        pythons = 'PYTHONS = shipyard.nox.python_versions("pyproject.toml")  # the classifiers\' versions found here\n'
    else:
        pythons = (
            "# No Python version classifiers in pyproject.toml: the tests run on nox's own interpreter. Add\n"
            '# "Programming Language :: Python :: 3.x" classifiers and use shipyard.nox.python_versions() for more.\n'
            "PYTHONS = None\n"
        )
    parts = [
        f'''"""{project.name}'s sessions (written by `shipyard init`): each venv is synced from uv.lock.

Run them with `uv run --locked nox` (all) or `uv run --locked nox -s tests`.
"""

from __future__ import annotations

import nox
import shipyard.nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_external_run = True
nox.options.sessions = {json.dumps(sessions)}

{pythons}UV = shipyard.nox.uv_binary()


@shipyard.nox.session(groups=["lint"], install_project=False)
def lint(session: nox.Session) -> None:
    """Lint{" and format-check" if lint_format else ""} with ruff."""
    session.run("ruff", "check", ".")
'''
    ]
    if lint_format:
        parts.append('    session.run("ruff", "format", "--check", ".")\n')
    if typecheck:
        targets = (
            ""
            if _type_checker_has_files(project, typecheck)
            else "".join(f"{json.dumps(str(path.relative_to(project.root)))}, " for path in project.packages.values())
        )
        command = f'"{typecheck}", {targets}*session.posargs'
        parts.append(
            f'''

@shipyard.nox.session(groups=["typecheck"])
def typecheck(session: nox.Session) -> None:
    """Type-check with {typecheck}."""
    session.run({command})
'''
        )
    if test_group:
        parts.append(
            f'''

@shipyard.nox.session(python=PYTHONS, groups=["{test_group}"])
def tests(session: nox.Session) -> None:
    """Run the tests with pytest; pass pytest options after --."""
    session.run("pytest", *session.posargs)
'''
        )
    parts.append(
        '''

@nox.session(venv_backend="none")
def build(session: nox.Session) -> None:
    """Build the wheel and sdist into dist/ (the wheel is what the image installs)."""
    session.run(UV, "build", "--out-dir", "dist", "--clear", external=True)


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Fail if uv.lock is out of date with pyproject.toml."""
    session.run(UV, "lock", "--locked", external=True)
'''
    )
    return "".join(parts)


def _type_checker_has_files(project: Project, tool: str) -> bool:
    """Whether the type checker's own config names what to check (else the sessions pass the packages)."""
    table = project.data.get("tool", {}).get(tool, {})
    return bool(table.get("files" if tool == "mypy" else "include")) or (project.root / "mypy.ini").is_file()


def tasks_py(project: Project) -> str:
    return f'''"""{project.name}'s invoke tasks (written by `shipyard init`): `uv run --locked invoke --list`."""

from shipyard.tasks import ns

__all__ = ["ns"]
'''


def _command(app: App) -> str:
    if app.kind == "script":
        return f'CMD ["{app.target}"]'
    # Shell form, so $HOST and $PORT are read when the container starts; `exec` keeps the server PID 1, so SIGTERM
    # drains it. $PORT is the whole deploy contract: the target gives each version its own and health-checks it.
    if app.kind == "asgi":
        factory = app.target.endswith("()")
        target = app.target.removesuffix("()")
        return (
            'CMD exec uvicorn --host "$HOST" --port "$PORT" --timeout-graceful-shutdown 10'
            f"{' --factory' if factory else ''} '{target}'"
        )
    return (
        f"CMD exec gunicorn --workers 2 --graceful-timeout 10 --access-logfile - --bind \"$HOST:$PORT\" '{app.target}'"
    )


def dockerfile(project: Project, app: App) -> str:
    """A Dockerfile built from Shipyard's artifacts: locked wheelhouse, then the app's wheel as the last layer."""
    return f"""\
# {project.name}, built by Shipyard (`invoke image.build`, or `invoke deploy`) from artifacts, not from source.
# Written by `shipyard init`. The build context is this Dockerfile plus what Shipyard adds under artifacts/:
#   artifacts/requirements.txt      locked runtime dependencies, exported from uv.lock with hashes (may be empty)
#   artifacts/wheelhouse/*.whl      those dependencies as wheels, downloaded on the host (the build has no network)
#   artifacts/app/*.whl             the project's own wheel, from `nox -s build` / `uv build`
#   artifacts/app-requirements.txt  that wheel, pinned by hash
ARG BASE_IMAGE=shipyard/python-base:bookworm

# Dependencies: depends on the locked requirements alone, so a source change never rebuilds this stage.
FROM ${{BASE_IMAGE}} AS deps
RUN python3 -m venv /opt/pip \\
 && python3 -m venv --without-pip /opt/venv
COPY artifacts/requirements.txt artifacts/wheelhouse/ /build/
RUN if grep -q '^[^#[:space:]]' /build/requirements.txt; then \\
      /opt/venv/bin/python /opt/pip/lib/python3*/site-packages/pip install --no-index --no-deps --require-hashes \\
        --no-cache-dir --disable-pip-version-check --find-links /build -r /build/requirements.txt; \\
    fi

# The project's wheel, installed into a staging root so the runtime stage copies only its files.
FROM deps AS app
COPY artifacts/app-requirements.txt artifacts/app/ /build/app/
RUN cd /build/app \\
 && /opt/venv/bin/python /opt/pip/lib/python3*/site-packages/pip install --no-index --no-deps --require-hashes \\
      --no-cache-dir --disable-pip-version-check --no-warn-script-location --root /staging -r app-requirements.txt

# Runtime: a non-root user, the dependency venv, writable data directories, then the app as the last layer.
FROM ${{BASE_IMAGE}} AS runtime
RUN useradd --uid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app
COPY --from=deps /opt/venv /opt/venv
# /data for the app's files (mount a volume there to keep them); /opt/venv/var is where an installed Flask app's
# instance folder lives (sys.prefix/var/<package>-instance), so SQLite databases there are writable too.
RUN install -d -o app -g app /data /opt/venv/var
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    DATA_DIR=/data \\
    HOST=127.0.0.1 \\
    PORT=8000
WORKDIR /data
USER app
{_command(app)}
COPY --from=app /staging/ /
"""


def shipyard_tables(project: Project, app: App | None, *, port: int, registry: str, env: str = "local") -> str:
    """The ``[tool.shipyard]`` tables that do not exist yet: the image, a ``local`` environment, CI."""
    image = normalize(project.name)  # a bare TOML key and a valid repository name, whatever the project's spelling
    out: list[str] = []
    if app is not None and f"images.{image}" not in project.shipyard_tables and "images" not in project.shipyard_tables:
        out.append(
            f"""
[tool.shipyard.images.{image}]
context = "."
dockerfile = "Dockerfile"
package = "{project.name}"
repository = "{image}"
"""
        )
    if app is not None and "environments" not in project.shipyard_tables:
        out.append(
            f"""
# `uv run --locked invoke deploy --env {env}`: the Docker engine on this machine, behind port {port}.
[tool.shipyard.environments.{env}]
target = "docker"
default = true
registry = "{registry}"
image = "{image}"
host = "127.0.0.1"
port = {port}
health_path = "{app.health_path}"
timeout = 60
# What the app writes, on named volumes so a redeploy keeps it (`invoke down --env {env} --volumes` removes them):
# /data (its working directory, $DATA_DIR) and /opt/venv/var (an installed Flask app's instance folder).
volumes = ["data:/data", "var:/opt/venv/var"]
"""
        )
    if "ci" not in project.shipyard_tables:
        out.append(
            """
# CI workflows generated from the noxfile: `uv run --locked shipyard ci generate`, checked by `shipyard ci check`.
[tool.shipyard.ci]
runs-on = "ubuntu-24.04"
"""
        )
    if not out:
        return ""
    return (
        "\n# ---------------------------------------------------------------- shipyard (`shipyard init` wrote these)\n"
        + "".join(out)
    )
