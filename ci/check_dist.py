"""Check the wheels and sdists in a dist/ directory: one of each per package, with valid core metadata.

Usage: python ci/check_dist.py dist
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

from packaging.metadata import Metadata
from packaging.utils import parse_sdist_filename, parse_wheel_filename


def _wheel_metadata(path: Path) -> Metadata:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Metadata.from_email(zf.read(name), validate=True)


def _sdist_metadata(path: Path) -> Metadata:
    with tarfile.open(path) as tf:
        member = next(m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
        data = tf.extractfile(member)
        assert data is not None
        return Metadata.from_email(data.read(), validate=True)


def check(dist: Path) -> list[str]:
    problems: list[str] = []
    wheels = {parse_wheel_filename(p.name)[:2]: p for p in dist.glob("*.whl")}
    sdists = {parse_sdist_filename(p.name): p for p in dist.glob("*.tar.gz")}
    if not wheels:
        problems.append(f"{dist}: no wheel was built")
    for key in sorted(set(wheels) | set(sdists)):
        name, version = key
        if key not in wheels or key not in sdists:
            problems.append(f"{name} {version}: expected a wheel and an sdist, found only one")
            continue
        for meta in (_wheel_metadata(wheels[key]), _sdist_metadata(sdists[key])):
            if (meta.name.replace("-", "_"), str(meta.version)) != (str(name).replace("-", "_"), str(version)):
                problems.append(f"{name} {version}: metadata says {meta.name} {meta.version}")
            if not meta.summary:
                problems.append(f"{name}: metadata has no Summary; set [project].description")
    return problems


def main() -> int:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    problems = check(dist)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_dist: {len(list(dist.glob('*.whl')))} wheels and sdists in {dist} have valid metadata")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
