"""Retries: only for declared transient errors, bounded, each retry logged; deterministic failures at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina
import structlog.testing

from shipyard import CommandFailed
from shipyard.pipeline import Pipeline, Retry, RunOptions, StageContext, StageFailed, retryable


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    # stamina's testing mode: no sleeping, the policies' own attempt counts (cap=True keeps them).
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


async def test_flaky_stage_succeeds_after_n_tries_and_each_retry_is_logged(options: RunOptions) -> None:
    calls: list[int] = []
    p = Pipeline("p")

    @p.stage(retry=Retry(on=ConnectionError, attempts=5))
    async def push(ctx: StageContext) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("registry reset the connection")

    with structlog.testing.capture_logs() as logs:
        report = await p.run_async(options)
    assert len(calls) == 3
    assert report.stage("push").attempts == 3
    retries = [e for e in logs if e["event"] == "retrying"]
    assert [(e["operation"], e["attempt"]) for e in retries] == [("push", 2), ("push", 3)]
    assert retries[0]["error"] == "ConnectionError: registry reset the connection"


async def test_non_retryable_error_is_raised_at_once(options: RunOptions) -> None:
    calls: list[int] = []
    p = Pipeline("p")

    @p.stage(retry=Retry(on=ConnectionError, attempts=5))
    async def tests(ctx: StageContext) -> None:
        calls.append(1)
        raise CommandFailed(["pytest"], 1, "1 failed")

    with pytest.raises(StageFailed, match="`pytest` exited with 1"):
        await p.run_async(options)
    assert calls == [1]


async def test_the_attempt_bound_holds(options: RunOptions) -> None:
    calls: list[int] = []
    p = Pipeline("p")

    @p.stage(retry=Retry(on=ConnectionError, attempts=4))
    async def health(ctx: StageContext) -> None:
        calls.append(1)
        raise ConnectionError("refused")

    with pytest.raises(StageFailed, match="ConnectionError: refused"):
        await p.run_async(options)
    assert len(calls) == 4


def test_retryable_sync_function_retries_only_listed_errors() -> None:
    calls: list[str] = []

    @retryable(on=TimeoutError, attempts=3)
    def call_aws(kind: str) -> str:
        calls.append(kind)
        if kind == "bad":
            raise ValueError("invalid parameter")
        if len(calls) < 2:
            raise TimeoutError("slow")
        return "ok"

    assert call_aws("good") == "ok"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(ValueError, match="invalid parameter"):
        call_aws("bad")
    assert calls == ["bad"]


async def test_retryable_async_function_bound_holds() -> None:
    calls: list[int] = []

    @retryable(on=ConnectionError, attempts=2)
    async def poll() -> None:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await poll()
    assert len(calls) == 2


async def test_total_time_bound_holds_with_real_backoff() -> None:
    calls: list[int] = []
    with stamina.set_testing(False):

        @retryable(on=ConnectionError, attempts=1000, timeout=0.3)
        async def poll() -> None:
            calls.append(1)
            raise ConnectionError("down")

        import time

        started = time.monotonic()
        with pytest.raises(ConnectionError):
            await poll()
        assert time.monotonic() - started < 2
    assert 1 < len(calls) < 1000
