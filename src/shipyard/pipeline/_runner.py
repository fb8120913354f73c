"""Running a planned graph: concurrency, the CPU bound, fail-fast, keep-going, timeouts, retries and cache.

Each stage is one task of an ``asyncio.TaskGroup``; it waits for its upstream stages, then (if CPU-heavy) for
a slot of the CPU semaphore. The first failure raises ``_FailFast`` out of its task, which makes the group
cancel every other stage: their subprocess groups are terminated by ``shipyard._command.run_async``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from shipyard._errors import ConfigError, PipelineError, ShipyardError
from shipyard._secrets import MASK, redact, registry
from shipyard.pipeline._cache import (
    SIGNING_KEY_ENV,
    CacheEntry,
    CacheStore,
    EntryRejected,
    KeyParts,
    LocalStore,
    compute_parts,
    contains_secret,
    decode_entry,
    encode_entry,
    explain,
    run_origin,
)
from shipyard.pipeline._cleanup import CleanupRegistry, cleanups
from shipyard.pipeline._context import StageContext
from shipyard.pipeline._graph import Graph, critical_path
from shipyard.pipeline._model import FileArtifact, StageResult, StageSpec, StageState
from shipyard.pipeline._report import RunReport
from shipyard.pipeline._reporters import Reporter, Reporters

__all__ = ["RunOptions", "StageTimeout", "execute"]


class StageTimeout(PipelineError):
    """A stage ran longer than its declared timeout and was cancelled."""


class _FailFast(Exception):
    """Raised out of a failed stage's task so the TaskGroup cancels the rest."""


@dataclass
class RunOptions:
    """How to run: the knobs of ``invoke check`` and friends.

    ``store`` defaults to the local store under ``<root>/.shipyard/cache``; ``reporters`` to
    ``default_reporters()``; ``cpu_limit`` to the CPU count; ``report_dir`` to ``<root>/.shipyard/runs``.
    ``read_only`` (default: ``SHIPYARD_CACHE_READ_ONLY`` set to 1/true/yes) reads the store but never writes it,
    e.g. for pull requests from forks. A shared store (any but ``LocalStore``) is used only with
    ``SHIPYARD_CACHE_SIGNING_KEY`` set: its entries are signed and verified with it.
    """

    root: Path = field(default_factory=Path.cwd)
    keep_going: bool = False
    use_cache: bool = True
    explain: bool = False
    cpu_limit: int | None = None
    store: CacheStore | None = None
    reporters: list[Reporter] | None = None
    environ: Mapping[str, str] | None = None
    report_dir: Path | None = None
    read_only: bool | None = None
    cleanup: CleanupRegistry = field(default_factory=lambda: cleanups)


class _Run:
    def __init__(self, name: str, graph: Graph, options: RunOptions, reporter: Reporters) -> None:
        self.name = name
        self.graph = graph
        self.options = options
        self.root = options.root.resolve()
        self.reporter = reporter
        self.environ = os.environ if options.environ is None else options.environ
        self.local = LocalStore(self.root / ".shipyard" / "cache")
        self.store: CacheStore = options.store or self.local
        self.warnings: list[str] = []
        self.memo: dict[Any, Any] = {}
        self._store_down = False
        self.signing_key, self.env_key = self._trust()
        read_only = options.read_only
        if read_only is None:
            read_only = self.environ.get("SHIPYARD_CACHE_READ_ONLY", "").lower() in ("1", "true", "yes")
        self.read_only = read_only
        self.results = {name: StageResult(name) for name in graph.order}
        self.done = {name: asyncio.Event() for name in graph.order}
        self.keys: dict[str, str] = {}
        self.artifacts: dict[str, Any] = {}
        self.cpu = asyncio.Semaphore(options.cpu_limit or os.cpu_count() or 1)
        self.origin = run_origin(self.environ)

    def _trust(self) -> tuple[bytes | None, bytes]:
        """The signing key (None: entries are not signed) and the HMAC key for env values."""
        from shipyard._secrets import register_secret

        raw = self.environ.get(SIGNING_KEY_ENV, "")
        shared = self.shared = bool(getattr(self.store, "shared", self.store is not self.local))
        if raw:
            if len(raw) < 16:
                raise ConfigError(f"${SIGNING_KEY_ENV} is {len(raw)} characters; use at least 16 (32 random bytes)")
            register_secret(raw)
            return raw.encode(), raw.encode()
        if shared:
            self.warn(
                f"cache store {type(self.store).__name__} is shared but ${SIGNING_KEY_ENV} is not set, so its "
                "entries cannot be verified: it is not used (the local cache is); set the key to use it"
            )
            self.store = self.local
        return None, self._local_key()

    def _object_key(self, key: str) -> str:
        """Where an entry lives in the store. In a shared store, each signing key has its own namespace (an HMAC of
        the entry's key), so a runner with another key (one being rotated, a misconfigured one) never reads, deletes
        or overwrites this key's entries, and an entry that fails verification here is forged or damaged."""
        if self.signing_key is None or not getattr(self, "shared", False):
            return key
        import hashlib
        import hmac

        return hmac.new(self.signing_key, key.encode(), hashlib.sha256).hexdigest()

    def _local_key(self) -> bytes:
        try:
            return self.local.hmac_key()
        except OSError as exc:
            self.warn(f"local cache key unavailable ({exc}); env values are keyed for this run only")
            import secrets

            return secrets.token_bytes(32)

    def warn(self, message: str) -> None:
        """Say ``message`` once per run: in the log now, in the report and the step summary at the end."""
        message = redact(message)
        if message in self.warnings:
            return
        self.warnings.append(message)
        from shipyard._logging import get_logger

        get_logger("pipeline").warning(message)

    def _store_failed(self, operation: str, exc: BaseException) -> None:
        if not self._store_down:  # an unreachable store is said loudly, once
            self._store_down = True
            self.warn(
                f"cache store {type(self.store).__name__} failed on {operation} "
                f"({type(exc).__name__}: {exc}); treating every lookup as a miss and skipping writes"
            )

    async def stage(self, name: str) -> None:
        spec = self.graph.stages[name]
        result = self.results[name]
        try:
            for dep in self.graph.upstream[name]:
                await self.done[dep].wait()
            failed_deps = [
                d
                for d in self.graph.upstream[name]
                if self.results[d].state not in (StageState.PASSED, StageState.CACHED)
            ]
            if failed_deps:
                result.state = StageState.SKIPPED
                result.error = f"not run: upstream stage {failed_deps[0]!r} did not pass"
                self.reporter.stage_finished(result)
                return
            await self._run_stage(spec, result)
        except Exception as exc:  # noqa: BLE001 - an engine fault fails its stage, never the run's report
            if result.state not in (StageState.FAILED, StageState.CANCELLED):
                self._fail(result, f"internal error: {type(exc).__name__}: {exc}", [])
                self.reporter.stage_finished(result)
        except asyncio.CancelledError:
            if result.state in (StageState.PENDING, StageState.RUNNING):
                result.state = StageState.CANCELLED
                if result.start is not None:
                    result.end = time.time()
                self.reporter.stage_finished(result)
            raise
        finally:
            self.done[name].set()
        if result.state is StageState.FAILED and not self.options.keep_going:
            raise _FailFast(name)

    async def _run_stage(self, spec: StageSpec, result: StageResult) -> None:
        # Each stage is its own task (and to_thread copies the context): its log events carry its name.
        structlog.contextvars.bind_contextvars(stage=spec.name)
        parts = self._key(spec, result)
        entry = await self._lookup(spec, parts, result) if parts is not None else None
        if entry is not None and parts is not None and await self._restore(spec, entry, parts, result):
            return
        lines: list[str] = []
        masked: list[bool] = []  # whether redaction changed anything this stage said

        def emit(line: str) -> None:
            redacted = redact(line)
            # ctx.run's lines arrive already redacted (by the command's stream redactor): with a secret
            # registered, a mask in the line is taken as one (a tool printing "***" itself only costs a miss).
            if not masked and (redacted != line or (MASK in redacted and registry.longest)):
                masked.append(True)
            lines.append(redacted)
            self.reporter.stage_output(spec.name, redacted)

        ctx = StageContext(
            spec.name,
            root=self.root,
            inputs={artifact: self.artifacts[artifact] for artifact in spec.consumes},
            env={name: self.environ[name] for name in spec.env if name in self.environ},
            params=spec.params,
            emit=emit,
            cleanups=self.options.cleanup,
        )
        slot = self.cpu if spec.cpu else contextlib.nullcontext()
        async with slot:
            result.state = StageState.RUNNING
            result.start = time.time()
            self.reporter.stage_started(result)
            try:
                outputs = await self._call(spec, ctx, result)
            except Exception as exc:  # noqa: BLE001 - any stage error is the stage's failure, reported in full
                output = getattr(exc, "output", "")
                if output and not lines:
                    lines.extend(redact(str(output)).splitlines())
                message = str(exc) if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
                self._fail(result, message, lines)
            else:
                if ctx.failure is not None:
                    # The work reported failure as data (a rolled-back deploy): the stage failed, everywhere.
                    self._fail(result, ctx.failure, lines)
                    result.outputs = outputs
                    result.summary = redact(ctx.summary)
                else:
                    result.end = time.time()
                    result.state = StageState.PASSED
                    result.outputs = outputs
                    result.summary = redact(ctx.summary)
                    result.output = "\n".join(lines)
                    self._publish(spec, outputs)
                    if parts is not None and (masked or result.summary != ctx.summary):
                        # Stored masked, a hit would replay output that is not what the stage said; and a form
                        # the redactor missed would sit in the store. Not cached, and the run says why.
                        self.warn(f"stage {spec.name!r} is not cached: its output contained a registered secret")
                        self._write_last(spec, parts)
                    elif parts is not None:
                        await self._save(spec, parts, result)
            self.reporter.stage_finished(result)

    def _key(self, spec: StageSpec, result: StageResult) -> KeyParts | None:
        if not spec.cache:
            self.keys[spec.name] = f"uncached:{time.time_ns()}"  # downstream caches must miss after it runs
            return None
        upstream_keys = {dep: self.keys.get(dep, "uncached") for dep in self.graph.upstream[spec.name]}
        parts = compute_parts(spec, self.root, upstream_keys, self.environ, env_key=self.env_key, memo=self.memo)
        result.key = parts.key
        self.keys[spec.name] = parts.key
        if self.options.explain:
            listed = self.local.last_path(spec.name).relative_to(self.root).as_posix()
            result.inputs = f"{parts.describe()} (full list: {listed})"
        return parts

    async def _lookup(self, spec: StageSpec, parts: KeyParts, result: StageResult) -> CacheEntry | None:
        if not self.options.use_cache:
            result.cache = "forced"
            return None
        entry: CacheEntry | None = None
        data: bytes | None = None
        if not self._store_down:
            try:
                data = await asyncio.to_thread(self.store.get, self._object_key(parts.key))
            except Exception as exc:  # noqa: BLE001 - an unreachable store is a miss, never a failed run
                self._store_failed("get", exc)
        if data is not None:
            try:
                entry = decode_entry(data, self.signing_key)
            except EntryRejected as exc:
                await self._reject(spec, parts, str(exc))
        if entry is None:
            if self.options.explain and self.local.read_last(spec.name) is None:
                await self._fetch_last(spec)
            self._miss(spec, parts, result)
        else:
            result.cache = "hit"
        return entry

    def _last_key(self, stage: str) -> str:
        return self._object_key(f"last-inputs:{stage}")

    async def _fetch_last(self, spec: StageSpec) -> None:
        """A fresh CI machine has no local record of the previous inputs: take the shared store's (signed) one,
        so ``--explain`` can still say which input changed since the last run that stored this stage."""
        if not self.shared or self.signing_key is None or self._store_down:
            return
        import hashlib
        import hmac
        import json

        try:
            data = await asyncio.to_thread(self.store.get, self._last_key(spec.name))
        except Exception as exc:  # noqa: BLE001 - an explanation is never worth a failed run
            self._store_failed("get", exc)
            return
        if not data or b"\n" not in data:
            return
        signature, _, body = data.partition(b"\n")
        expected = hmac.new(self.signing_key, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(signature, expected):
            return  # forged or damaged: no explanation rather than a false one
        try:
            previous = json.loads(body)
            path = self.local.last_path(spec.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(previous, sort_keys=True))
        except (ValueError, OSError):
            return

    async def _put_last(self, spec: StageSpec, parts: KeyParts) -> None:
        if not self.shared or self.signing_key is None or self.read_only or self._store_down:
            return
        import hashlib
        import hmac
        import json

        body = json.dumps(parts.as_dict(), sort_keys=True).encode()
        signature = hmac.new(self.signing_key, body, hashlib.sha256).hexdigest().encode()
        try:
            await asyncio.to_thread(self.store.put, self._last_key(spec.name), signature + b"\n" + body)
        except Exception as exc:  # noqa: BLE001
            self._store_failed("put", exc)

    def _miss(self, spec: StageSpec, parts: KeyParts, result: StageResult) -> None:
        result.cache = "miss"
        if self.options.explain:
            result.miss_reason = explain(parts, self.local.read_last(spec.name))

    async def _reject(self, spec: StageSpec, parts: KeyParts, reason: str) -> None:
        """A stored entry failed verification: say so, drop it, and run the stage."""
        self.warn(f"cache entry for stage {spec.name!r} rejected: {reason}; dropped, running the stage")
        delete = getattr(self.store, "delete", None)
        if delete is not None and not self.read_only:
            try:
                await asyncio.to_thread(delete, self._object_key(parts.key))
            except Exception as exc:  # noqa: BLE001
                self._store_failed("delete", exc)

    async def _restore(self, spec: StageSpec, entry: CacheEntry, parts: KeyParts, result: StageResult) -> bool:
        """Restore a verified entry (True), or reject it and turn the hit into a miss (False)."""
        try:
            await asyncio.to_thread(entry.restore, self.root, parts.key)
        except EntryRejected as exc:
            await self._reject(spec, parts, str(exc))
            self._miss(spec, parts, result)
            return False
        except OSError as exc:
            self.warn(f"cache entry for stage {spec.name!r} could not be restored ({exc}); running the stage")
            self._miss(spec, parts, result)
            return False
        result.start = result.end = time.time()
        result.state = StageState.CACHED
        result.outputs = dict(entry.outputs)
        result.summary = entry.summary
        result.output = entry.output
        result.origin = entry.origin or "an unrecorded run"
        result.attempts = 0
        self._publish(spec, result.outputs)
        self.reporter.stage_started(result)
        self.reporter.stage_finished(result)
        return True

    async def _call(self, spec: StageSpec, ctx: StageContext, result: StageResult) -> dict[str, Any]:
        def attempt(num: int) -> None:
            result.attempts = num

        async def body() -> dict[str, Any]:
            returned = await spec.function(ctx)
            return dict(returned or {})

        timeout = asyncio.timeout(spec.timeout)
        try:
            async with timeout:
                if spec.retry is not None:
                    from shipyard.pipeline._retry import retry_call

                    outputs = await retry_call(spec.name, spec.retry, body, on_attempt=attempt)
                else:
                    result.attempts = 1
                    outputs = await body()
        except TimeoutError:
            if timeout.expired():
                raise StageTimeout(
                    f"stage {spec.name!r} timed out after {spec.timeout:g} s and was cancelled"
                ) from None
            raise
        missing = [name for name in spec.produces if name not in outputs]
        extra = [name for name in outputs if name not in spec.produces]
        if missing or extra:
            raise PipelineError(
                f"stage {spec.name!r} must return exactly its declared outputs {list(spec.produces)}; "
                f"missing {missing}, undeclared {extra}"
            )
        for value in outputs.values():
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, FileArtifact) and not (self.root / item.path).is_file():
                    raise PipelineError(f"stage {spec.name!r} returned file {item.path!r}, which does not exist")
        return outputs

    def _fail(self, result: StageResult, message: str, lines: list[str]) -> None:
        result.end = time.time()
        result.state = StageState.FAILED
        result.error = redact(message)
        result.output = "\n".join(lines)

    def _publish(self, spec: StageSpec, outputs: Mapping[str, Any]) -> None:
        for name in spec.produces:
            self.artifacts[name] = outputs[name]

    async def _save(self, spec: StageSpec, parts: KeyParts, result: StageResult) -> None:
        try:
            entry = CacheEntry.capture(
                parts.key,
                spec.name,
                outputs=result.outputs,
                summary=result.summary,
                output=result.output,
                root=self.root,
                origin=self.origin,
            )
        except (EntryRejected, OSError) as exc:
            self.warn(f"stage {spec.name!r} is not cached: {exc}")
            return
        if contains_secret(entry):
            self.warn(f"stage {spec.name!r} is not cached: its outputs contain a registered secret")
            return
        if not self.read_only and not self._store_down:
            try:
                await asyncio.to_thread(
                    self.store.put, self._object_key(parts.key), encode_entry(entry, self.signing_key)
                )
            except Exception as exc:  # noqa: BLE001 - a store failure is a warning, never a failed stage
                self._store_failed("put", exc)
            await self._put_last(spec, parts)
        self._write_last(spec, parts)

    def _write_last(self, spec: StageSpec, parts: KeyParts) -> None:
        try:
            self.local.write_last(spec.name, parts)
        except OSError as exc:
            self.warn(f"could not record stage {spec.name!r}'s inputs for --explain: {exc}")


async def execute(name: str, graph: Graph, options: RunOptions) -> RunReport:
    """Run ``graph``; return its report (written under ``.shipyard/runs``). Cancellation propagates after the
    report is written and the cleanup hooks have run."""
    from shipyard.pipeline._reporters import default_reporters

    reporter = Reporters(options.reporters if options.reporters is not None else default_reporters())
    run = _Run(name, graph, options, reporter)
    started = time.time()
    reporter.run_started(name, graph)
    outcome = "passed"
    try:
        try:
            async with asyncio.TaskGroup() as group:
                for stage in graph.order:
                    group.create_task(run.stage(stage), name=f"stage:{stage}")
        except* _FailFast:
            outcome = "failed"
    except BaseException:
        outcome = "interrupted"
        raise
    finally:
        for result in run.results.values():
            if result.state in (StageState.PENDING, StageState.RUNNING):
                result.state = StageState.CANCELLED
        # "passed" only when every stage passed or was restored: anything else is not a success.
        if outcome == "passed" and any(
            r.state not in (StageState.PASSED, StageState.CACHED) for r in run.results.values()
        ):
            outcome = "failed"
        report = RunReport(
            pipeline=name,
            started=started,
            ended=time.time(),
            result=outcome,
            stages=[run.results[s] for s in graph.order],
            critical_path=critical_path(graph, run.results),
            warnings=run.warnings,
        )
        await asyncio.shield(options.cleanup.run_all())
        try:
            report.write(options.report_dir or run.root / ".shipyard" / "runs")
        except OSError as exc:
            run.warn(f"the run report could not be written: {exc}")
        reporter.run_finished(report)
    return report
