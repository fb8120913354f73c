"""The image's CycloneDX 1.5 SBOM: the locked requirements (``uv export --format cyclonedx1.5``, the same export
the image installs from), the package's wheel with its hash, and the base image(s) by ID.

The SBOM's root component is the image itself; its serial number and timestamp derive from its inputs, so the
same inputs give the same SBOM.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard._command import run
from shipyard._errors import CommandFailed, ImageError

__all__ = ["BaseImage", "base_images", "image_sbom"]

BaseImage = dict[str, Any]

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?", re.IGNORECASE)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<default>\S*))?", re.IGNORECASE)
_VAR = re.compile(r"\$\{(?P<a>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<d>[^}]*))?\}|\$(?P<b>[A-Za-z_][A-Za-z0-9_]*)")


def base_images(dockerfile: str, build_args: Mapping[str, str], *, inspect: Any) -> list[BaseImage]:
    """Every external image the Dockerfile starts ``FROM`` (stages and ``scratch`` skipped), with its local ID.

    ``inspect(name)`` returns docker's image inspection or raises; an image the engine does not hold is listed by
    name only.
    """
    args: dict[str, str] = {}
    stages: set[str] = set()
    found: list[BaseImage] = []
    seen_from = False
    for line in dockerfile.splitlines():
        if (arg := _ARG.match(line)) and not seen_from:  # only ARGs before the first FROM apply to FROM lines
            args[arg["name"]] = build_args.get(arg["name"], arg["default"] or "")
            continue
        if not (match := _FROM.match(line)):
            continue
        seen_from = True
        name = _VAR.sub(lambda m: args.get(m["a"] or m["b"], "") or (m["d"] or ""), match["image"])
        if match["stage"]:
            stages.add(match["stage"].lower())
        if name.lower() in stages or name == "scratch" or any(b["name"] == name for b in found):
            continue
        entry: BaseImage = {"name": name}
        try:
            info = inspect(name)
        except Exception:  # noqa: BLE001 - not on this engine: named, without an ID
            info = None
        if info:
            entry["id"] = str(info["Id"])
            entry["repo_digests"] = sorted(info.get("RepoDigests") or [])
        found.append(entry)
    return found


def image_sbom(
    *,
    root: Path,
    package: str,
    version: str,
    repository: str,
    wheel: Path,
    bases: Sequence[BaseImage],
    created: str,
) -> dict[str, Any]:
    """The SBOM of an image that installs ``package``'s locked runtime requirements and its ``wheel``."""
    bom = _export(root, package)
    wheel_hash = _sha256_file(wheel)
    components = [c for c in bom.get("components", []) if isinstance(c, dict)]
    components.append(
        {
            "type": "library",
            "bom-ref": f"wheel:{wheel.name}",
            "name": package,
            "version": version,
            "purl": f"pkg:pypi/{package.lower()}@{version}",
            "hashes": [{"alg": "SHA-256", "content": wheel_hash}],
            "properties": [{"name": "shipyard:artifact", "value": wheel.name}],
        }
    )
    for base in bases:
        component: dict[str, Any] = {"type": "container", "bom-ref": f"base:{base['name']}", "name": base["name"]}
        if "id" in base:
            component["hashes"] = [{"alg": "SHA-256", "content": base["id"].removeprefix("sha256:")}]
            component["properties"] = [{"name": "shipyard:base-image", "value": "true"}] + [
                {"name": "oci:repo-digest", "value": ref} for ref in base["repo_digests"]
            ]
        components.append(component)
    bom["components"] = components
    known = {c.get("bom-ref") for c in components}
    bom["dependencies"] = [d for d in bom.get("dependencies", []) if d.get("ref") in known]
    bom["metadata"] = {
        **{k: v for k, v in bom.get("metadata", {}).items() if k != "component"},
        "timestamp": created,
        "component": {"type": "container", "bom-ref": "image", "name": repository, "version": version},
    }
    fingerprint = json.dumps([components, bom["dependencies"], repository], sort_keys=True).encode()
    bom["serialNumber"] = f"urn:uuid:{uuid.UUID(bytes=hashlib.sha256(fingerprint).digest()[:16], version=5)}"
    return bom


def _export(root: Path, package: str) -> dict[str, Any]:
    """uv's CycloneDX export, cached per uv.lock, package and uv binary (a warm build runs no uv for it).

    The build's requirements export (``--locked``) has already checked that uv.lock matches pyproject.toml.
    """
    from shipyard._uv import find_uv

    uv = find_uv()
    lock = root / "uv.lock"
    key = hashlib.sha256(
        b"\0".join(
            [
                lock.read_bytes() if lock.is_file() else b"",
                package.encode(),
                str(uv).encode(),
                str(uv.stat().st_size if uv.exists() else 0).encode(),
            ]
        )
    ).hexdigest()[:32]
    cached = root / ".shipyard" / "sbom-cache" / f"{key}.json"
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(cached.read_text())
        if isinstance(data, dict) and data.get("bomFormat") == "CycloneDX":
            return data
    data = _run_export(root, package, uv)
    with contextlib.suppress(OSError):
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        temporary.write_text(json.dumps(data))
        temporary.replace(cached)
    return data


def _run_export(root: Path, package: str, uv: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shipyard-sbom-") as tmp:
        out = Path(tmp) / "sbom.cdx.json"
        # The same selection as the requirements the image installs (images/_artifacts.export_requirements).
        argv = [str(uv), "export", "--package", package, "--no-dev", "--no-emit-workspace", "--locked",
                "--format", "cyclonedx1.5", "--quiet", "--output-file", str(out)]  # fmt: skip
        try:
            run(argv, cwd=root)
            data = json.loads(out.read_text())
        except CommandFailed as exc:
            raise ImageError(f"SBOM of {package}: `uv export --format cyclonedx1.5` failed: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise ImageError(f"SBOM of {package}: uv wrote no readable CycloneDX JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        raise ImageError(f"SBOM of {package}: uv's export is not a CycloneDX document")
    return data


def _sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
