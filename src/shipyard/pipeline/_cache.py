"""Content-addressed stage results: the key, the entry format, the stores' trust rules and ``--explain``.

A stage's key hashes its *declared* inputs only, kept as named parts so a miss can say which one changed:

- ``stage``: the name, the ``version=`` string and the function's bytecode (edit the body -> new key);
- ``params``: the declared parameters;
- ``files``: path -> sha256 of every file the stage reads: its declared globs, or (``project_files=True``) every
  file git tracks plus the untracked files git does not ignore (``__pycache__`` and tool directories such as
  ``.nox`` and ``.shipyard`` are always skipped);
- ``lock``: sha256 of ``uv.lock`` (every tool and library version the sessions install);
- ``env``: name -> HMAC-SHA256 of the value of each declared variable under the cache's own key (values are never
  stored, and a short value cannot be recovered by hashing guesses without the key);
- ``tools``: declared tool versions, plus the interpreter running the engine (implementation, version, platform);
- ``upstream``: the keys of the stages this one depends on.

What a restore trusts (docs/pipeline.md, "The cache's trust model"): an entry is used only if it names the key it
was looked up by, every file's bytes match the sha256 recorded when it was stored, and every path stays inside the
project root (relative, no ``..``, no symlinked directory leading out). Entries of a shared store are signed with
HMAC-SHA256 under ``SHIPYARD_CACHE_SIGNING_KEY``; an unsigned or badly signed entry is a miss.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from shipyard._secrets import redact
from shipyard.pipeline._model import FileArtifact, ImageArtifact, StageSpec

__all__ = [
    "SIGNING_KEY_ENV",
    "CacheEntry",
    "CacheStore",
    "EntryRejected",
    "KeyParts",
    "LocalStore",
    "compute_parts",
    "contains_secret",
    "decode_entry",
    "encode_entry",
    "explain",
    "hash_files",
    "project_files",
]

#: Bumped when the entry format or the key's composition changes: old entries then simply miss.
FORMAT = "2"
#: The environment variable holding the HMAC key that signs and verifies entries of a shared store.
SIGNING_KEY_ENV = "SHIPYARD_CACHE_SIGNING_KEY"
_SIGNATURE_PREFIX = b"shipyard-hmac-sha256:"
#: Directories that are never inputs: tool state that changes on every run (or holds whole venvs).
SKIPPED_DIRS = frozenset(
    {".git", ".shipyard", ".nox", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)


class CacheStore(Protocol):
    """Where cache entries live. ``get`` returns None on a miss; both must be safe to call concurrently.

    A store that cannot be reached raises (any exception): the run turns it into one warning and a miss.
    A store may also offer ``delete(key)``, used to drop an entry that failed verification.
    """

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


class EntryRejected(Exception):
    """A stored entry that must not be used (bad signature, altered bytes, a path outside the root)."""


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


def _skipped(rel_parts: Iterable[str]) -> bool:
    return any(part in SKIPPED_DIRS for part in rel_parts)


def _file_digest(path: Path) -> str | None:
    if path.is_symlink():
        # The link and what it points at: a shared module linked in from outside the root is an input too.
        target = path.read_bytes() if path.is_file() else b""
        return _sha(b"symlink:" + os.fsencode(path.readlink()) + b"\0" + target)
    if not path.is_file():
        return None
    return _sha(path.read_bytes())


def _linked_dir_files(root: Path, rel: str) -> dict[str, str]:
    """The files under a symlinked directory ``rel`` (not following further links), as ``rel/...``."""
    found: dict[str, str] = {}
    top = root / rel
    for directory, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        base = PurePosixPath(rel) / Path(directory).relative_to(top).as_posix()
        for name in files:
            digest = _file_digest(Path(directory) / name)
            if digest is not None:
                found[(base / name).as_posix()] = digest
    return found


def hash_files(root: Path, globs: tuple[str, ...], exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """path (relative, POSIX) -> sha256 of content, for every regular file matching ``globs`` under ``root``."""
    found: dict[str, str] = {}
    for pattern in globs:
        for path in sorted(_glob(root, pattern)):
            rel = path.relative_to(root)
            # Bytecode caches change whenever Python compiles: never an input, always a false miss.
            if rel.as_posix() in found or _skipped(rel.parts) or _excluded(rel, exclude):
                continue
            digest = _file_digest(path)
            if digest is not None:
                found[rel.as_posix()] = digest
    return dict(sorted(found.items()))


def _glob(root: Path, pattern: str) -> Iterable[Path]:
    """``root.glob(pattern)``, but ``**/NAME`` (the common ``**/*.py``) walks the tree once without entering
    ``SKIPPED_DIRS``: a .venv or .nox holds tens of thousands of files whose matches are dropped anyway (a second
    per stage key on a checkout with a few venvs). Same matches otherwise: every depth, names by ``fnmatchcase``
    (as Path.glob), and more: a symlinked directory's files (a package linked in from outside the project is imported
    and type-checked like any other), as ``project_files`` keys them, links inside it not followed."""
    head, _, name = pattern.partition("/")
    if head != "**" or not name or "/" in name or "**" in name:
        yield from root.glob(pattern)
        return
    import fnmatch

    def walk(top: Path, *, follow: bool) -> Iterable[tuple[str, list[str]]]:
        for directory, dirs, files in os.walk(top):
            yield directory, [*dirs, *files]
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
            for linked in (Path(directory) / d for d in dirs if follow):
                if linked.is_symlink():
                    yield from walk(linked, follow=False)

    for directory, entries in walk(root, follow=True):
        for entry in entries:
            if fnmatch.fnmatchcase(entry, name):
                yield Path(directory) / entry


def _glob_regex(pattern: str) -> re.Pattern[str]:
    # Glob semantics of Path.glob for a whole relative path: `**` spans directories, `*` and `?` do not.
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + "(?:/.*)?")


def _excluded(rel: PurePosixPath | Path, exclude: tuple[str, ...]) -> bool:
    posix = rel.as_posix()
    return any(_glob_regex(pattern).fullmatch(posix) for pattern in exclude)


def project_files(root: Path) -> list[str]:
    """Every file git tracks under ``root`` plus the untracked files git does not ignore (relative, POSIX).

    Outside a git work tree, or when an enclosing repository ignores ``root`` itself (a dotfiles repo in $HOME, a
    checkout under another repo's ignored directory), every file under ``root``. A directory git lists as one
    entry (a submodule, a nested repository) is listed the same way, by its own git. Tool directories
    (``SKIPPED_DIRS``) are left out.
    """
    names = _git_files(root)
    if names is None:
        names = set()
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
            base = Path(directory).relative_to(root)
            names.update((base / name).as_posix() for name in files)
            names.update((base / name).as_posix() for name in dirs if (Path(directory) / name).is_symlink())
    return sorted(name for name in names if not _skipped(PurePosixPath(name).parts))


def _git(argv: list[str], root: Path) -> subprocess.CompletedProcess[bytes] | None:
    # Not shipyard._command.run: file names must be read as raw bytes, neither redacted (a secret that is part
    # of a name would drop that file from the key) nor decoded lossily (a non-UTF-8 name would match no file).
    try:
        return subprocess.run(["git", *argv], cwd=root, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError:  # git is not installed
        return None


def _git_files(root: Path) -> set[str] | None:
    """What git lists under ``root``, or None when git's listing does not cover it (walk the tree instead)."""
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root)
    if listed is None or listed.returncode != 0:
        return None
    # An ignored root lists nothing (or only force-added files): that is not an empty project.
    ignored = _git(["check-ignore", "-q", "."], root)
    if ignored is None or ignored.returncode == 0:
        return None
    names: set[str] = set()
    for name in (os.fsdecode(entry).rstrip("/") for entry in listed.stdout.split(b"\0") if entry):
        path = root / name
        if path.is_dir() and not path.is_symlink() and not _skipped(PurePosixPath(name).parts):
            # A submodule (a gitlink) or an untracked nested repository: its files are inputs too.
            names.update(f"{name}/{inner}" for inner in project_files(path))
        else:
            names.add(name)
    return names


def hash_project_files(root: Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """``hash_files`` over ``project_files(root)`` (deleted tracked files are left out)."""
    found: dict[str, str] = {}
    for rel in project_files(root):
        if _excluded(PurePosixPath(rel), exclude):
            continue
        path = root / rel
        digest = _file_digest(path)
        if digest is not None:
            found[rel] = digest
        if path.is_symlink() and path.is_dir():
            found[rel] = _sha(b"symlink:" + os.fsencode(path.readlink()))
            found.update(_linked_dir_files(root, rel))
    return found


_tool_versions: dict[tuple[str, ...], str] = {}


def _tool_version(spec: str | tuple[str, ...]) -> str:
    if isinstance(spec, str):
        return spec
    if spec not in _tool_versions:  # run each version command once per process
        from shipyard._command import run

        _tool_versions[spec] = run(spec, check=False).output.strip()
    return _tool_versions[spec]


def interpreter_identity() -> str:
    """The interpreter that runs the stages: implementation, version and platform (not its path)."""
    machine = os.uname().machine if hasattr(os, "uname") else os.environ.get("PROCESSOR_ARCHITECTURE", "")
    return f"{sys.implementation.name} {sys.version.split()[0]} {sys.platform}-{machine}"


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

    def describe(self) -> str:
        """What was hashed, in one line (``--explain``)."""
        env = ", ".join(f"{name}={'unset' if value == 'unset' else 'set'}" for name, value in self.env.items())
        return (
            f"{len(self.files)} files, uv.lock {'absent' if self.lock == 'none' else self.lock[:12]}, "
            f"interpreter {self.tools.get('python', '?')}, env [{env}], {len(self.upstream)} upstream stages"
        )


def env_digest(value: str, key: bytes) -> str:
    """The keyed hash of a declared environment value (what enters the cache key and ``last/<stage>.json``)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def compute_parts(
    spec: StageSpec,
    root: Path,
    upstream_keys: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    *,
    env_key: bytes = b"",
    memo: dict[Any, Any] | None = None,
) -> KeyParts:
    """The key parts of ``spec``; ``env_key`` is the cache's HMAC key for env values; ``memo`` is per run."""
    environ = os.environ if environ is None else environ
    memo = {} if memo is None else memo
    lock = root / "uv.lock"
    tools = {name: _tool_version(value) for name, value in sorted(spec.tools.items())}
    tools["python"] = interpreter_identity()
    files = hash_files(root, spec.files, spec.exclude) if spec.files else {}
    if spec.project_files:
        cache_key = ("project", spec.exclude)
        if cache_key not in memo:  # every stage of a check hashes the same tree: once per run
            memo[cache_key] = hash_project_files(root, spec.exclude)
        files = {**memo[cache_key], **files}
    return KeyParts(
        stage=code_version(spec),
        params=_sha(json.dumps(spec.params, sort_keys=True, default=repr)),
        files=dict(sorted(files.items())),
        lock=_sha(lock.read_bytes()) if lock.is_file() else "none",
        env={name: env_digest(environ[name], env_key) if name in environ else "unset" for name in sorted(spec.env)},
        tools=tools,
        upstream=dict(sorted(upstream_keys.items())),
    )


def changes(current: KeyParts, previous: Mapping[str, Any] | None) -> list[str]:
    """Every input that differs from the stage's previous key, with file paths and variable names."""
    now = current.as_dict()
    found: list[str] = []
    if previous is None:
        return found
    if now["stage"] != previous.get("stage"):
        found.append("the stage's code or version changed")
    for label, part in (("file", "files"), ("env var", "env"), ("tool", "tools"), ("upstream stage", "upstream")):
        old, new = previous.get(part, {}), now[part]
        if not isinstance(old, Mapping):
            old = {}
        for name in sorted(set(old) | set(new)):
            if name not in old:
                found.append(f"{label} {name} was added")
            elif name not in new:
                found.append(f"{label} {name} was removed")
            elif old[name] != new[name]:
                found.append(f"{label} {name} changed")
    if now["params"] != previous.get("params"):
        found.append("its parameters changed")
    if now["lock"] != previous.get("lock"):
        found.append("uv.lock changed")
    return found


#: How many changed inputs ``explain`` names before summing up the rest.
EXPLAIN_LIMIT = 10


def explain(current: KeyParts, previous: Mapping[str, Any] | None) -> str:
    """One line naming the inputs that differ from the stage's previous key (or why there is none)."""
    if previous is None:
        return "no previous run of this stage is recorded"
    found = changes(current, previous)
    if not found:
        return "inputs are unchanged but no entry is stored (evicted, rejected, or the stage did not pass)"
    shown = ", ".join(found[:EXPLAIN_LIMIT])
    more = f" (and {len(found) - EXPLAIN_LIMIT} more)" if len(found) > EXPLAIN_LIMIT else ""
    return shown + more


def safe_target(root: Path, rel: object) -> Path:
    """``root / rel`` if ``rel`` is a plain relative path that stays inside ``root``; else ``EntryRejected``.

    Refused: non-strings, absolute paths, ``..`` segments, backslashes and NULs, and a path whose existing
    parent directories resolve (through a symlink) outside ``root``.
    """
    if not isinstance(rel, str) or not rel or "\0" in rel or "\\" in rel:
        raise EntryRejected(f"path {rel!r} is not a plain relative path")
    posix = PurePosixPath(rel)
    if posix.is_absolute() or rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise EntryRejected(f"path {rel!r} is absolute")
    if any(part == ".." for part in posix.parts):
        raise EntryRejected(f"path {rel!r} leaves the project root")
    if ".git" in posix.parts:  # hooks and config there would run code on the next git command
        raise EntryRejected(f"path {rel!r} is inside .git")
    real_root = root.resolve()
    target = root / posix
    ancestor = target.parent
    while not ancestor.exists() and ancestor != root:
        ancestor = ancestor.parent
    if ancestor.is_symlink() or ancestor.exists():
        resolved = ancestor.resolve()
        if resolved != real_root and real_root not in resolved.parents:
            raise EntryRejected(f"path {rel!r} leads outside the project root through a symlink")
    if target.is_dir() and not target.is_symlink():
        raise EntryRejected(f"path {rel!r} is a directory in the project")
    return target


@dataclass(frozen=True)
class CacheEntry:
    """A stored stage result: its outputs (files inline), its summary and its (redacted) output."""

    key: str
    stage: str
    outputs: Mapping[str, Any]
    files: Mapping[str, bytes]
    summary: str
    output: str
    digests: Mapping[str, str] | None = None  # as recorded at store time; None for a freshly captured entry
    origin: str = ""  # the run that produced it (signed with the rest): "cached (from run ...)" on a hit

    @classmethod
    def capture(
        cls,
        key: str,
        stage: str,
        *,
        outputs: Mapping[str, Any],
        summary: str,
        output: str,
        root: Path,
        origin: str = "",
    ) -> CacheEntry:
        files: dict[str, bytes] = {}
        for item in _file_artifacts(outputs):
            path = safe_target(root, item.path)  # a stage's output outside the root is never stored
            if path.is_symlink():  # nor what a link points at (dist/app.whl -> ~/.aws/credentials)
                raise EntryRejected(f"output file {item.path!r} is a symlink")
            files[item.path] = path.read_bytes()
        return cls(key, stage, dict(outputs), files, redact(summary), redact(output), origin=redact(origin))

    def to_bytes(self) -> bytes:
        outputs = {name: _encode_value(value) for name, value in self.outputs.items()}
        return json.dumps(
            {
                "format": FORMAT,
                "key": self.key,
                "stage": self.stage,
                "outputs": outputs,
                "files": {
                    path: {"sha256": _sha(data), "data": base64.b64encode(data).decode()}
                    for path, data in self.files.items()
                },
                "summary": self.summary,
                "output": self.output,
                "origin": self.origin,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CacheEntry | None:
        """The entry, or None when it is corrupt or of another format (the bytes are not verified here)."""
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                return None
            files = raw["files"]
            return cls(
                key=str(raw["key"]),
                stage=str(raw["stage"]),
                outputs={name: _decode_value(value) for name, value in raw["outputs"].items()},
                files={path: base64.b64decode(blob["data"], validate=True) for path, blob in files.items()},
                summary=str(raw["summary"]),
                output=str(raw["output"]),
                digests={path: str(blob["sha256"]) for path, blob in files.items()},
                origin=str(raw.get("origin", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # a corrupt entry is a miss, never a crash

    def verify(self, root: Path, key: str) -> dict[str, Path]:
        """Check the entry before anything is written: its key, every file's digest, every path.

        Returns path -> target; raises ``EntryRejected`` naming the first problem.
        """
        if self.key != key:
            raise EntryRejected(f"it is stored under {key[:12]} but names key {self.key[:12]}")
        targets: dict[str, Path] = {}
        for rel, data in self.files.items():
            targets[rel] = safe_target(root, rel)
            recorded = (self.digests or {}).get(rel)
            if recorded is None or not hmac.compare_digest(recorded, _sha(data)):
                raise EntryRejected(f"file {rel!r} does not match the sha256 recorded when it was stored")
        for item in _file_artifacts(self.outputs):
            if item.path not in self.files:
                raise EntryRejected(f"output file {item.path!r} is not stored in the entry")
        return targets

    def restore(self, root: Path, key: str | None = None) -> None:
        """Verify the entry (``EntryRejected`` if it fails), then write its files back where they were produced."""
        targets = self.verify(root, self.key if key is None else key)
        for rel, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            # A fresh, exclusive temporary name: a planted symlink at a predictable name is never followed.
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.shipyard-tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.files[rel])
            tmp.replace(target)


def _file_artifacts(outputs: Mapping[str, Any]) -> list[FileArtifact]:
    found = []
    for value in outputs.values():
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, FileArtifact):
                found.append(item)
    return found


def contains_secret(entry: CacheEntry) -> bool:
    """Whether any registered secret appears in what the entry would store (outputs, summary, output, files)."""
    texts = [json.dumps({n: _encode_value(v) for n, v in entry.outputs.items()}, default=repr), entry.summary]
    texts.append(entry.output)
    texts += [data.decode("utf-8", errors="replace") for data in entry.files.values()]
    texts += [data.decode("latin-1") for data in entry.files.values()]
    return any(redact(text) != text for text in texts)


def encode_entry(entry: CacheEntry, signing_key: bytes | None) -> bytes:
    """The bytes to store: the entry, prefixed with its HMAC-SHA256 signature when a key is given."""
    body = entry.to_bytes()
    if signing_key is None:
        return body
    signature = hmac.new(signing_key, body, hashlib.sha256).hexdigest().encode()
    return _SIGNATURE_PREFIX + signature + b"\n" + body


def decode_entry(data: bytes, signing_key: bytes | None) -> CacheEntry:
    """The entry in ``data``; ``EntryRejected`` if it is unsigned or badly signed (when a key is given) or corrupt."""
    body = data
    if signing_key is not None:
        if not data.startswith(_SIGNATURE_PREFIX):
            raise EntryRejected("it is not signed")
        header, _, body = data.partition(b"\n")
        signature = header[len(_SIGNATURE_PREFIX) :]
        expected = hmac.new(signing_key, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(signature, expected):
            raise EntryRejected("its signature does not match SHIPYARD_CACHE_SIGNING_KEY")
    elif data.startswith(_SIGNATURE_PREFIX):
        body = data.partition(b"\n")[2]
    entry = CacheEntry.from_bytes(body)
    if entry is None:
        raise EntryRejected("it is corrupt or of another format")
    return entry


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

    shared = False

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / "entries" / key[:2] / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def hmac_key(self) -> bytes:
        """This cache's own random key for env values (created on first use, readable by the owner only)."""
        path = self.directory / "hmac.key"
        try:
            key = path.read_bytes()
            if len(key) >= 32:
                return key
        except OSError:
            pass
        self.directory.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        tmp.replace(path)
        return key

    def last_path(self, stage: str) -> Path:
        """Where ``stage``'s previous key parts are kept: one file, whatever the name holds (``docs/html``, ``..``)."""
        from urllib.parse import quote

        name = quote(stage, safe="-_.")  # "/" is encoded: never a directory
        if name.startswith("."):  # nor "." or ".." (or a hidden file)
            name = "%2E" + name[1:]
        return self.directory / "last" / f"{name}.json"

    # The previous key parts of each stage, kept locally to explain the next miss.
    def read_last(self, stage: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.last_path(stage).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_last(self, stage: str, parts: KeyParts) -> None:
        path = self.last_path(stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(parts.as_dict(), sort_keys=True))
        tmp.replace(path)


def run_origin(environ: Mapping[str, str]) -> str:
    """Which run is producing entries now: the GitHub Actions run's URL, else ``user@host at <UTC time>``."""
    server, repo, run_id = (environ.get(n, "") for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if server and repo and run_id:
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "")
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}" + (f"/attempts/{attempt}" if attempt else "")
    import datetime as dt
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{user}@{socket.gethostname()} at {stamp}"
