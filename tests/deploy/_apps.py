"""Images of the fixture apps (apps/): an ordinary Flask app under gunicorn and an ASGI app under uvicorn.

Built like _images.py: the apps and their pure-Python dependencies are copied from this virtualenv onto the Python
base image, without network or a registry. Each version is a one-line child image (its own ENV and digest).
Variants are the app's own settings (FIXTURE_*), never Shipyard's: the apps read only $PORT from their deployer.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import Any

BASES = ("shipyard/python-base:bookworm",)

MODULES = (
    "flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker", "gunicorn", "packaging",
    "uvicorn", "h11", "typing_extensions",
)  # fmt: skip
APPS = Path(__file__).with_name("apps")
SERVERS = {
    "flask": "exec python3 -m gunicorn --bind 127.0.0.1:$PORT --workers 1 --threads 8 flask_app:app",
    "asgi": "exec python3 -m uvicorn asgi_app:app --host 127.0.0.1 --port $PORT",
}
CRASH = 'import sys; print("boom: DATABASE_URL is not set", file=sys.stderr); sys.exit(3)'


def _context(root: Path) -> None:
    app = root / "app"
    app.mkdir(parents=True)
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None, name
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, app / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, app / origin.name)
    for source in APPS.glob("*.py"):
        shutil.copy(source, app / source.name)


def _child(client: Any, tag: str, lines: list[str]) -> None:
    dockerfile = ("\n".join(lines) + "\n").encode()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    data.seek(0)
    client.images.build(fileobj=data, custom_context=True, tag=tag, network_mode="none", rm=True)


def base_image(client: Any) -> str | None:
    import docker.errors

    for base in BASES:
        try:
            client.images.get(base)
            return base
        except docker.errors.ImageNotFound:
            continue
    return None


def build_apps(client: Any, tmp: Path, versions: dict[str, dict[str, str]]) -> tuple[str, dict[str, str]] | None:
    """Build ``<repo>:<app>-<version>`` for app in (flask, asgi) and each version (its FIXTURE_* settings; the
    setting ``crash`` makes a version that exits 3 at start). Returns (repository, "<app>-<version>" -> image id)."""
    base = base_image(client)
    if base is None:
        return None
    repo = f"shipyard-fixture-{uuid.uuid4().hex[:8]}"
    _context(tmp)
    (tmp / "Dockerfile").write_text(
        f"FROM {base}\nCOPY app /app\nWORKDIR /app\nENV PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n"
    )
    client.images.build(path=str(tmp), tag=f"{repo}:base", network_mode="none", rm=True)
    tags: dict[str, str] = {}
    for app, server in SERVERS.items():
        for version, settings in versions.items():
            tag = f"{repo}:{app}-{version}"
            env = {"FIXTURE_VERSION": f"{app}-{version}", **{k: v for k, v in settings.items() if k != "crash"}}
            lines = [f"FROM {repo}:base", *(f"ENV {k}={v}" for k, v in env.items())]
            lines.append(f"LABEL shipyard.fixture-repo={repo}")  # an image id of its own: another run's cleanup
            # (same content, same id from the build cache) can never remove the image this run deploys by id
            if settings.get("crash"):
                lines.append(f"CMD {_json(['python3', '-c', CRASH])}")
            else:
                lines.append(f"CMD {_json(['sh', '-c', server])}")
            _child(client, tag, lines)
            # The docker target deploys immutable references only (a digest or an image id), never a tag.
            tags[f"{app}-{version}"] = client.images.get(tag).id
    return repo, tags


def _json(argv: list[str]) -> str:
    import json

    return json.dumps(argv)


def remove_apps(client: Any, repo: str) -> None:
    for image in client.images.list(name=repo):
        for ref in image.tags:
            client.images.remove(ref, force=True)
