"""Test images of hello-service for the docker target: built once per session, without network or a registry.

The service and its pure-Python dependencies are copied from this virtualenv onto the Python base image
(``shipyard/python-base:bookworm`` when present, else ``/tmp/pybase.tar`` imported under a tag of our own).
Each version is a one-line child image (ENV APP_REVISION / APP_FAIL_HEALTH), so each has its own digest.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import Any

MODULES = ("hello_service", "starlette", "uvicorn", "anyio", "h11", "click", "idna", "typing_extensions")
BASES = ("shipyard/python-base:bookworm",)
PYBASE_TAR = Path("/tmp/pybase.tar")


def _base(client: Any, tag: str) -> str | None:
    import docker.errors

    for base in BASES:
        try:
            client.images.get(base)
            return base
        except docker.errors.ImageNotFound:
            continue
    if not PYBASE_TAR.exists():
        return None
    with PYBASE_TAR.open("rb") as fh:
        client.api.import_image_from_data(fh.read(), repository=tag, tag="base")
    return f"{tag}:base"


def _context(root: Path) -> None:
    app = root / "app"
    app.mkdir(parents=True)
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None, name
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, app / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, app / origin.name)
    dist = next(
        p for p in Path(importlib.util.find_spec("starlette").origin).parents[1].glob("hello_service-*.dist-info")
    )  # type: ignore[arg-type]
    shutil.copytree(dist, app / dist.name)


def build_versions(client: Any, tmp: Path, versions: dict[str, dict[str, str]]) -> tuple[str, dict[str, str]] | None:
    """Build ``tag:<version>`` for each version (extra ENV lines); return (repository, version -> image id)."""
    tag = f"shipyard-deploy-test-{uuid.uuid4().hex[:8]}"
    base = _base(client, tag)
    if base is None:
        return None
    _context(tmp)
    (tmp / "Dockerfile").write_text(
        f"FROM {base}\nCOPY app /app\nENV PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1\n"
        'CMD ["python3", "-m", "hello_service"]\n'
    )
    client.images.build(path=str(tmp), tag=f"{tag}:app", network_mode="none", rm=True)
    ids: dict[str, str] = {}
    for version, env in versions.items():
        lines = [f"FROM {tag}:app"] + [f"ENV {k}={v}" for k, v in {"APP_REVISION": version, **env}.items()]
        data = io.BytesIO()
        dockerfile = ("\n".join(lines) + "\n").encode()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile))
        data.seek(0)
        image, _ = client.images.build(
            fileobj=data, custom_context=True, tag=f"{tag}:{version}", network_mode="none", rm=True
        )
        ids[version] = str(image.id)  # immutable: the docker target refuses a tag for --image
    return tag, ids


def remove_images(client: Any, tag: str) -> None:
    for image in client.images.list(name=tag):
        for ref in image.tags:
            client.images.remove(ref, force=True)
