"""SLSA provenance v1 in an in-toto Statement v1: what was built, from what, by whom, with which parameters.

A build writes a *build record* beside the project (``.shipyard/attest/<image id>/``): the SBOM and the
provenance predicate, everything but the subject, which only the registry's digest fixes. The push completes
the statement (``statement_for``) and signs it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard._command import run
from shipyard._errors import CommandFailed, ImageError
from shipyard._secrets import redact

__all__ = [
    "BUILD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "BuildRecord",
    "builder",
    "git_branch",
    "git_ref",
    "load_record",
    "statement_for",
    "write_record",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/shipyard-dev/shipyard/blob/main/docs/supply-chain.md#image-build-v1"
GITHUB_RUNNER = "https://github.com/actions/runner"
LOCAL_BUILDER = "https://github.com/shipyard-dev/shipyard/blob/main/docs/supply-chain.md#local-builder"
RECORD_DIR = Path(".shipyard") / "attest"
#: Build records kept per project (newest first); an image older than that is attested by building it again.
KEEP_RECORDS = 100
SBOM_FILE = "sbom.cdx.json"
PREDICATE_FILE = "provenance.json"


@dataclass(frozen=True)
class BuildRecord:
    """What a build left for its push to attest: the SBOM and the provenance predicate (no subject yet)."""

    directory: Path
    sbom: bytes
    predicate: dict[str, Any]
    root: Path


def builder(env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(builder, metadata)`` of SLSA's runDetails: the GitHub Actions run, or the local user and host."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        run_url = (
            f"{server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
            f"/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
        )
        hosting = (
            "github-hosted" if env.get("RUNNER_ENVIRONMENT", "github-hosted") == "github-hosted" else "self-hosted"
        )
        found: dict[str, Any] = {"id": f"{GITHUB_RUNNER}/{hosting}"}
        if workflow := env.get("GITHUB_WORKFLOW_REF"):
            found["builderDependencies"] = [
                {
                    "uri": f"git+{server}/{workflow}",
                    "digest": {"gitCommit": env.get("GITHUB_WORKFLOW_SHA", env.get("GITHUB_SHA", ""))},
                }
            ]
        return found, {"invocationId": run_url}
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"id": LOCAL_BUILDER, "version": {"host": socket.gethostname(), "user": user}}, {
        "invocationId": f"local:{user}@{socket.gethostname()}"
    }


def git_ref(root: Path, env: Mapping[str, str] | None = None) -> str | None:
    """The git ref being built: ``GITHUB_REF`` under Actions (``refs/heads/<b>``, ``refs/tags/<t>``, ...), else
    ``refs/heads/<branch>`` of git's ``HEAD``, or ``refs/tags/<tag>`` when a detached ``HEAD`` is exactly a tag."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        return env.get("GITHUB_REF") or None
    try:
        name = run(["git", "symbolic-ref", "--quiet", "HEAD"], cwd=root).output.strip()
    except CommandFailed:
        name = ""  # detached HEAD, or not a git work tree
    if name:
        return name
    try:
        tag = run(["git", "describe", "--tags", "--exact-match", "HEAD"], cwd=root).output.strip()
    except CommandFailed:
        return None  # not at a tag
    return f"refs/tags/{tag}" if tag else None


def git_branch(root: Path, env: Mapping[str, str] | None = None) -> str | None:
    """The branch being built: ``GITHUB_REF`` under Actions (``refs/heads/<b>`` only), else git's ``HEAD`` branch."""
    ref = git_ref(root, env) or ""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def _untracked(root: Path) -> int:
    """Files in the work tree that git neither tracks nor ignores: not in the commit, maybe in the image."""
    try:
        status = run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root).output
    except CommandFailed:
        return 0
    return sum(1 for line in status.splitlines() if line.startswith("??"))


def write_record(
    *,
    root: Path,
    image_id: str,
    sbom: Mapping[str, Any],
    dockerfile: Path,
    revision: Any,
    source_url: str | None,
    parameters: Mapping[str, Any],
    bases: list[dict[str, Any]],
    wheel: Path,
    requirements: str,
    started: dt.datetime,
    finished: dt.datetime,
) -> Path:
    """Write the build record of ``image_id`` and return its directory."""
    sbom_bytes = json.dumps(sbom, indent=2, sort_keys=True).encode()
    dependencies: list[dict[str, Any]] = []
    if revision is not None:
        uri = f"git+{source_url}" if source_url else f"git+file://{root}"
        git: dict[str, Any] = {
            "uri": uri,
            "digest": {"gitCommit": revision.commit},
            "annotations": {"dirty": revision.dirty, "untracked": _untracked(root)},
        }
        if ref := git_ref(root):
            git["annotations"]["ref"] = ref
            if ref.startswith("refs/heads/"):
                git["annotations"]["branch"] = ref.removeprefix("refs/heads/")
        dependencies.append(git)
    lock = root / "uv.lock"
    if lock.is_file():
        dependencies.append({"name": "uv.lock", "digest": {"sha256": _sha256(lock.read_bytes())}})
    shown = dockerfile.relative_to(root) if dockerfile.is_relative_to(root) else dockerfile
    dependencies.append({"name": f"Dockerfile:{shown}", "digest": {"sha256": _sha256(dockerfile.read_bytes())}})
    dependencies.append({"name": "requirements.txt", "digest": {"sha256": _sha256(requirements.encode())}})
    dependencies.append({"name": wheel.name, "digest": {"sha256": _sha256(wheel.read_bytes())}})
    for base in bases:
        entry: dict[str, Any] = {"name": base["name"], "uri": f"docker-image://{base['name']}"}
        if "id" in base:
            entry["digest"] = {"sha256": base["id"].removeprefix("sha256:")}
            entry["annotations"] = {"repoDigests": base["repo_digests"], "kind": "base-image"}
        else:
            entry["annotations"] = {"kind": "base-image"}
        dependencies.append(entry)
    found, metadata = builder()
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": _redacted(parameters),
            "internalParameters": {"imageId": image_id, "networkMode": "none"},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": found,
            "metadata": {**metadata, "startedOn": _stamp(started), "finishedOn": _stamp(finished)},
        },
    }
    directory = root / RECORD_DIR / image_id.removeprefix("sha256:")
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / SBOM_FILE, sbom_bytes)
    _write(directory / PREDICATE_FILE, json.dumps({"root": str(root), "predicate": predicate}, indent=2).encode())
    _prune(directory.parent, keep=KEEP_RECORDS)
    return directory


def _prune(parent: Path, *, keep: int) -> None:
    import shutil

    records = sorted((p for p in parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in records[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def load_record(directory: Path) -> BuildRecord:
    """The build record in ``directory``; a one-line ``ImageError`` when it is missing or corrupt."""
    try:
        sbom = (directory / SBOM_FILE).read_bytes()
        data = json.loads((directory / PREDICATE_FILE).read_text())
        return BuildRecord(directory=directory, sbom=sbom, predicate=dict(data["predicate"]), root=Path(data["root"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImageError(
            f"the build record in {directory} is missing or corrupt ({type(exc).__name__}); rebuild the image"
        ) from exc


def statement_for(record: BuildRecord, *, name: str, digest: str, sbom_media_type: str) -> dict[str, Any]:
    """The in-toto statement whose subject is the pushed image ``name@digest``; the SBOM is a byproduct."""
    predicate = json.loads(json.dumps(record.predicate))
    predicate["runDetails"]["byproducts"] = [
        {"name": SBOM_FILE, "mediaType": sbom_media_type, "digest": {"sha256": _sha256(record.sbom)}}
    ]
    algorithm, _, value = digest.partition(":")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {algorithm: value}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def _redacted(value: Any) -> Any:
    # Redaction on values before serialization: a build argument that holds a registered secret never lands here.
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
