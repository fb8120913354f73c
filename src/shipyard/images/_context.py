"""The build context as a tar: the context directory (minus ``.dockerignore``) plus ``artifacts/``.

Shipyard writes the tar itself so the artifacts need no copying into the source tree. Entries are sorted and
carry fixed metadata, so the same inputs give the same context, and the classic builder's cache hits.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from shipyard._errors import ImageError
from shipyard.images._artifacts import Artifacts
from shipyard.images._config import ImageConfig

__all__ = ["ARTIFACTS_DIR", "build_context"]

ARTIFACTS_DIR = "artifacts"
_MTIME = 315532800  # 1980-01-01, the zip epoch, as wheels use


def build_context(config: ImageConfig, artifacts: Artifacts) -> IO[bytes]:
    """A seekable tar of the build context, positioned at its start. The caller closes it."""
    fileobj = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, the caller closes it
    try:
        _write_context(fileobj, config, artifacts)
    except BaseException:
        fileobj.close()  # a refused context (a file in the way, a link out) leaves no open temporary file
        raise
    fileobj.seek(0)
    return fileobj


def _write_context(fileobj: IO[bytes], config: ImageConfig, artifacts: Artifacts) -> None:
    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        for relative in sorted(_included(config)):
            if relative.split("/", 1)[0] == ARTIFACTS_DIR:
                raise ImageError(
                    f"image {config.name}: {config.context / relative} is in the way: Shipyard adds "
                    f"{ARTIFACTS_DIR}/ to the context itself; remove it or exclude it in .dockerignore"
                )
            _inside_context(config, config.context / relative)
            _add_file(tar, config.context / relative, relative)
        _add_bytes(tar, f"{ARTIFACTS_DIR}/requirements.txt", artifacts.requirements.encode())
        # The directory itself, so `COPY artifacts/wheelhouse/ ...` works for a project with no dependencies.
        _add_dir(tar, f"{ARTIFACTS_DIR}/wheelhouse")
        for wheel in sorted(artifacts.wheelhouse.glob("*.whl")):
            _add_file(tar, wheel, f"{ARTIFACTS_DIR}/wheelhouse/{wheel.name}")
        _add_file(tar, artifacts.wheel, f"{ARTIFACTS_DIR}/app/{artifacts.wheel.name}")
        digest = _sha256(artifacts.wheel)
        _add_bytes(
            tar, f"{ARTIFACTS_DIR}/app-requirements.txt", f"./{artifacts.wheel.name} --hash=sha256:{digest}\n".encode()
        )


def _included(config: ImageConfig) -> set[str]:
    from docker.utils.build import exclude_paths

    ignore = config.context / ".dockerignore"
    patterns = [
        line.strip() for line in (ignore.read_text().splitlines() if ignore.is_file() else [])
        if line.strip() and not line.strip().startswith("#")
    ]  # fmt: skip
    paths = exclude_paths(str(config.context), patterns, dockerfile=config.dockerfile)
    return {path for path in paths if (config.context / path).is_file()}


def _inside_context(config: ImageConfig, path: Path) -> None:
    """A symlink in the context must not bake a file from outside it into the image (docker refuses too)."""
    if not path.resolve().is_relative_to(config.context):
        raise ImageError(
            f"image {config.name}: {path} points outside the build context {config.context} "
            f"(to {path.resolve()}); copy the file into the context or exclude it in .dockerignore"
        )


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
    info.mtime = _MTIME
    with path.open("rb") as fh:
        tar.addfile(info, fh)


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = _MTIME
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = _MTIME
    tar.addfile(info, io.BytesIO(data))


def _sha256(path: Path) -> str:
    import hashlib

    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
