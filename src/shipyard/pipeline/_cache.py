"""Content-addressed stage results: the key, the entry format, the local store and ``--explain``.

A stage's key hashes its *declared* inputs only, kept as named parts so a miss can say which one changed:

- ``stage``: the name, the ``version=`` string and the function's bytecode (edit the body -> new key);
- ``params``: the declared parameters;
- ``files``: path -> sha256 of every file the declared globs match (an undeclared file never enters the key;
  ``__pycache__`` is always skipped);
- ``lock``: sha256 of ``uv.lock`` (every tool and library version the sessions install);
- ``env``: name -> sha256 of the value of each declared variable (values are never stored);
- ``tools``: declared tool versions, plus the Python version running the engine;
- ``upstream``: the keys of the stages this one depends on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shipyard._secrets import redact
from shipyard.pipeline._model import FileArtifact, ImageArtifact, StageSpec

__all__ = ["CacheEntry", "CacheStore", "KeyParts", "LocalStore", "compute_parts", "explain", "hash_files"]

#: Bumped when the entry format or the key's composition changes: old entries then simply miss.
FORMAT = "1"


class CacheStore(Protocol):
    """Where cache entries live. ``get`` returns None on a miss; both must be safe to call concurrently."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _code_digest(code: types.CodeType, into: Any) -> None:
    into.update(code.co_code)
    into.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_digest(const, into)
        else:
            into.update(repr(const).encode())


def code_version(spec: StageSpec) -> str:
    """A digest of the stage function's bytecode, constants and names (not of the closures it reads)."""
    digest = hashlib.sha256(f"{FORMAT}:{spec.name}:{spec.version}".encode())
    code = getattr(spec.function, "__code__", None)
    if isinstance(code, types.CodeType):
        _code_digest(code, digest)
    else:
        digest.update(getattr(spec.function, "__qualname__", repr(spec.function)).encode())
    return digest.hexdigest()


def hash_files(root: Path, globs: tuple[str, ...]) -> dict[str, str]:
    """path (relative, POSIX) -> sha256 of content, for every regular file matching ``globs`` under ``root``."""
    found: dict[str, str] = {}
    for pattern in globs:
        for path in sorted(root.glob(pattern)):
            # Bytecode caches change whenever Python compiles: never an input, always a false miss.
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(root).as_posix()
                if rel not in found:
                    found[rel] = _sha(path.read_bytes())
    return dict(sorted(found.items()))


_tool_versions: dict[tuple[str, ...], str] = {}


def _tool_version(spec: str | tuple[str, ...]) -> str:
    if isinstance(spec, str):
        return spec
    if spec not in _tool_versions:  # run each version command once per process
        from shipyard._command import run

        _tool_versions[spec] = run(spec, check=False).output.strip()
    return _tool_versions[spec]


@dataclass(frozen=True)
class KeyParts:
    """The named parts of a stage key; ``key`` hashes them all."""

    stage: str
    params: str
    files: Mapping[str, str]
    lock: str
    env: Mapping[str, str]
    tools: Mapping[str, str]
    upstream: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "params": self.params,
            "files": dict(self.files),
            "lock": self.lock,
            "env": dict(self.env),
            "tools": dict(self.tools),
            "upstream": dict(self.upstream),
        }

    @property
    def key(self) -> str:
        return _sha(json.dumps(self.as_dict(), sort_keys=True))


def compute_parts(
    spec: StageSpec, root: Path, upstream_keys: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> KeyParts:
    environ = os.environ if environ is None else environ
    lock = root / "uv.lock"
    tools = {name: _tool_version(value) for name, value in sorted(spec.tools.items())}
    tools["python"] = sys.version.split()[0]
    return KeyParts(
        stage=code_version(spec),
        params=_sha(json.dumps(spec.params, sort_keys=True, default=repr)),
        files=hash_files(root, spec.files),
        lock=_sha(lock.read_bytes()) if lock.is_file() else "none",
        env={name: _sha(environ[name]) if name in environ else "unset" for name in sorted(spec.env)},
        tools=tools,
        upstream=dict(sorted(upstream_keys.items())),
    )


def explain(current: KeyParts, previous: Mapping[str, Any] | None) -> str:
    """One line naming the first input that differs from the stage's previous key (or why there is none)."""
    if previous is None:
        return "no previous run of this stage is recorded"
    now = current.as_dict()
    changes: list[str] = []
    if now["stage"] != previous.get("stage"):
        changes.append("the stage's code or version changed")
    for label, part in (("file", "files"), ("env var", "env"), ("tool", "tools"), ("upstream stage", "upstream")):
        old, new = previous.get(part, {}), now[part]
        for name in sorted(set(old) | set(new)):
            if name not in old:
                changes.append(f"{label} {name} was added")
            elif name not in new:
                changes.append(f"{label} {name} was removed")
            elif old[name] != new[name]:
                changes.append(f"{label} {name} changed")
    if now["params"] != previous.get("params"):
        changes.append("its parameters changed")
    if now["lock"] != previous.get("lock"):
        changes.append("uv.lock changed")
    if not changes:
        return "inputs are unchanged but no entry is stored (evicted, or the stage did not pass)"
    more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
    return changes[0] + more


@dataclass(frozen=True)
class CacheEntry:
    """A stored stage result: its outputs (files inline), its summary and its (redacted) output."""

    key: str
    stage: str
    outputs: Mapping[str, Any]
    files: Mapping[str, bytes]
    summary: str
    output: str

    @classmethod
    def capture(
        cls, key: str, stage: str, *, outputs: Mapping[str, Any], summary: str, output: str, root: Path
    ) -> CacheEntry:
        files: dict[str, bytes] = {}
        for value in outputs.values():
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, FileArtifact):
                    files[item.path] = (root / item.path).read_bytes()
        return cls(key, stage, dict(outputs), files, redact(summary), redact(output))

    def to_bytes(self) -> bytes:
        outputs = {name: _encode_value(value) for name, value in self.outputs.items()}
        return json.dumps(
            {
                "format": FORMAT,
                "key": self.key,
                "stage": self.stage,
                "outputs": outputs,
                "files": {path: base64.b64encode(data).decode() for path, data in self.files.items()},
                "summary": self.summary,
                "output": self.output,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CacheEntry | None:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                return None
            return cls(
                key=raw["key"],
                stage=raw["stage"],
                outputs={name: _decode_value(value) for name, value in raw["outputs"].items()},
                files={path: base64.b64decode(blob) for path, blob in raw["files"].items()},
                summary=raw["summary"],
                output=raw["output"],
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # a corrupt entry is a miss, never a crash

    def restore(self, root: Path) -> None:
        """Write the entry's files back where the stage produced them."""
        for rel, data in self.files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.shipyard-tmp")
            tmp.write_bytes(data)
            tmp.replace(target)


def _encode_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_encode_value(item) for item in value]
    if isinstance(value, FileArtifact):
        return {"__file__": value.path}
    if isinstance(value, ImageArtifact):
        return {"__image__": value.ref, "digest": value.digest}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_value(item) for item in value]
    if isinstance(value, dict) and "__file__" in value:
        return FileArtifact(value["__file__"])
    if isinstance(value, dict) and "__image__" in value:
        return ImageArtifact(value["__image__"], value["digest"])
    return value


class LocalStore:
    """Entries as files under ``directory`` (by default ``<root>/.shipyard/cache``), written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / "entries" / key[:2] / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except OSError:
            return None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    # The previous key parts of each stage, kept locally to explain the next miss.
    def read_last(self, stage: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory / "last" / f"{stage}.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_last(self, stage: str, parts: KeyParts) -> None:
        path = self.directory / "last" / f"{stage}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(parts.as_dict(), sort_keys=True))
        tmp.replace(path)
