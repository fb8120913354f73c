"""The artifacts an image is built from: the package's wheel, its locked requirements and their wheelhouse.

The requirements come from ``uv export`` (with hashes); the wheelhouse is downloaded on the host, because the
build itself has no network, and kept under ``.shipyard/wheelhouse/<hash of the requirements>`` so that a
rebuild with the same lock downloads nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shipyard._command import run
from shipyard._errors import CommandFailed, ImageError, ShipyardError
from shipyard.images._config import ImageConfig

__all__ = ["Artifacts", "Revision", "build_wheel", "collect", "find_wheel", "git_revision", "wheelhouse"]

#: Wheel platforms pip may pick for a glibc x86-64 base image (pure-Python wheels always fit).
PLATFORMS = ("manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64", "linux_x86_64")


@dataclass(frozen=True)
class Revision:
    """The git commit the image is built from; ``dirty`` when the work tree has uncommitted changes."""

    commit: str
    dirty: bool
    #: Commit time (Unix seconds): the image's creation time when the tree is clean, so rebuilds are identical.
    timestamp: int | None = None

    @property
    def tag(self) -> str:
        return f"{self.commit[:12]}-dirty" if self.dirty else self.commit[:12]

    @property
    def label(self) -> str:
        return f"{self.commit}-dirty" if self.dirty else self.commit


@dataclass(frozen=True)
class Artifacts:
    """What goes into the build context under ``artifacts/``."""

    wheel: Path
    requirements: str
    wheelhouse: Path


def collect(config: ImageConfig, *, dist: Path | None = None, build: bool = False) -> Artifacts:
    """The wheel (built first when ``build``), the exported requirements and a filled wheelhouse."""
    dist = dist or config.root / "dist"
    if build:
        build_wheel(config, dist)
    wheel = find_wheel(config, dist)
    requirements = export_requirements(config)
    return Artifacts(wheel=wheel, requirements=requirements, wheelhouse=wheelhouse(config, requirements))


def build_wheel(config: ImageConfig, dist: Path) -> Path:
    """``uv build --package <package> --wheel`` into ``dist``: what the ``build`` session does, for one package."""
    try:
        run([_uv(), "build", "--package", config.package, "--wheel", "--out-dir", str(dist)], cwd=config.root)
    except CommandFailed as exc:
        raise ImageError(f"image {config.name}: building the wheel of {config.package} failed: {exc}") from exc
    return find_wheel(config, dist)


def find_wheel(config: ImageConfig, dist: Path) -> Path:
    """The wheel of the configured package and version in ``dist``; a one-line error saying how to make it."""
    stem = re.sub(r"[-_.]+", "_", config.package).lower()
    found = sorted(dist.glob(f"{stem}-{config.version}-*.whl"))
    if not found:
        raise ImageError(
            f"image {config.name}: no wheel of {config.package} {config.version} in {dist}; run `nox -s build` "
            f"(or `uv build --package {config.package} --out-dir {dist}`), or pass --build-wheel"
        )
    return found[-1]


def export_requirements(config: ImageConfig) -> str:
    """The package's locked runtime dependencies, pinned with hashes, from uv.lock (``--locked``: no drift).

    Kept under ``.shipyard/exports/`` by a hash of everything the export reads (uv.lock and every workspace
    pyproject.toml), so a rebuild after a source change does not run uv again; any edit to those files exports
    (and checks the lock) afresh.
    """
    cache = _export_cache(config)
    if cache is not None and cache.is_file():
        return cache.read_text()
    text = _export(config)
    if cache is not None:
        with contextlib.suppress(OSError):  # a cache we cannot write is only a slower next build
            cache.parent.mkdir(parents=True, exist_ok=True)
            staging = cache.with_suffix(f".{os.getpid()}.tmp")
            staging.write_text(text)
            staging.replace(cache)
    return text


def _export_cache(config: ImageConfig) -> Path | None:
    from shipyard._pyproject import workspace_pyprojects

    digest = hashlib.sha256(f"{config.package}\n".encode())
    try:
        digest.update((config.root / "uv.lock").read_bytes())
        for path in workspace_pyprojects(config.root):
            digest.update(str(path.relative_to(config.root)).encode() + b"\0" + path.read_bytes())
    except (OSError, ValueError, ShipyardError):
        return None  # no lock yet: let uv say so
    return config.root / ".shipyard" / "exports" / f"{digest.hexdigest()[:32]}.txt"


def _export(config: ImageConfig) -> str:
    with tempfile.TemporaryDirectory(prefix="shipyard-export-") as tmp:
        out = Path(tmp) / "requirements.txt"
        # --output-file, not stdout: uv prints its progress on stderr, which `run` interleaves with stdout.
        argv = [_uv(), "export", "--package", config.package, "--no-dev", "--no-emit-workspace", "--locked",
                "--format", "requirements-txt", "--no-header", "--no-annotate", "--quiet",
                "--output-file", str(out)]  # fmt: skip
        try:
            run(argv, cwd=config.root)
        except CommandFailed as exc:
            if "--locked" in exc.output:
                raise ImageError("uv.lock is out of date with pyproject.toml: run `uv lock`") from exc
            raise ImageError(f"image {config.name}: exporting locked requirements failed: {exc}") from exc
        return out.read_text()


def wheelhouse(config: ImageConfig, requirements: str) -> Path:
    """A directory holding a wheel for every requirement, downloaded once per distinct requirements text."""
    key = hashlib.sha256(f"{config.python}\n{PLATFORMS}\n{requirements}".encode()).hexdigest()[:24]
    target = config.root / ".shipyard" / "wheelhouse" / key
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if not any(line.strip() and not line.lstrip().startswith("#") for line in requirements.splitlines()):
        target.mkdir(exist_ok=True)  # no dependencies: an empty wheelhouse, and no pip to run
        (target / ".complete").touch()
        return target
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        (staging / "requirements.txt").write_text(requirements)
        platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
        argv = [*_pip(), "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
                *platforms, "--python-version", config.python, "--implementation", "cp", "--require-hashes",
                "--dest", str(staging), "-r", str(staging / "requirements.txt")]  # fmt: skip
        try:
            run(argv, cwd=config.root)
        except CommandFailed as exc:
            raise ImageError(f"image {config.name}: downloading the wheelhouse failed: {exc}") from exc
        (staging / "requirements.txt").unlink()
        (staging / ".complete").touch()
        with contextlib.suppress(OSError):  # another build filled it first: theirs is as good as ours
            staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _pip() -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    if found := shutil.which("pip3") or shutil.which("pip"):
        return [found]
    return [_uv(), "tool", "run", "--from", "pip", "pip"]


def git_revision(root: Path) -> Revision | None:
    """The commit at HEAD and whether tracked files changed; ``None`` outside a git work tree."""
    try:
        commit, timestamp = run(["git", "log", "-1", "--format=%H %ct"], cwd=root).output.split()
        status = run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root).output.strip()
    except (CommandFailed, ValueError):
        return None
    return Revision(commit=commit, dirty=bool(status), timestamp=int(timestamp))


def _uv() -> str:
    # The locked uv (the one nox and the sessions use), not whatever `uv` PATH finds first.
    from shipyard._uv import find_uv

    return str(find_uv())
