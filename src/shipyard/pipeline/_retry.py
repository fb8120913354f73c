"""Retries for transient faults (network: pushes, AWS calls, health polls), with stamina, never by hand.

Only the exception types a policy names are retried; anything else (a failing test, a bad config, a
``CommandFailed`` the policy does not list) propagates at once. Every retry is logged with the operation's
name, the attempt number, the wait and the (redacted) error.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import stamina

from shipyard._logging import get_logger
from shipyard._secrets import redact
from shipyard.pipeline._model import Retry

__all__ = ["retry_call", "retryable"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _log_retry(operation: str, attempt: int, exc: BaseException, wait: float) -> None:
    get_logger("pipeline").warning(
        "retrying",
        operation=operation,
        attempt=attempt,
        waited_s=round(wait, 3),
        error=redact(f"{type(exc).__name__}: {exc}"),
    )


async def retry_call(
    operation: str,
    policy: Retry,
    function: Callable[[], Awaitable[T]],
    *,
    on_attempt: Callable[[int], None] | None = None,
) -> T:
    """Await ``function()`` until it succeeds, retrying ``policy.on`` errors within the policy's bounds."""
    attempts = stamina.retry_context(
        on=policy.on,
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
    )
    failure: list[tuple[BaseException, float]] = []
    for attempt in attempts:
        if failure:  # stamina only starts a new attempt when it decided to retry the last failure
            _log_retry(operation, attempt.num, *failure[-1])
        if on_attempt is not None:
            on_attempt(attempt.num)
        with attempt:
            try:
                return await function()
            except policy.on as exc:
                failure.append((exc, attempt.next_wait))
                raise
    raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover


def retryable(
    on: type[Exception] | tuple[type[Exception], ...], *, attempts: int = 3, timeout: float = 60.0
) -> Callable[[F], F]:
    """Mark a sync or async operation retryable on ``on`` (bounded by ``attempts`` and ``timeout`` seconds)."""
    policy = Retry(on=on, attempts=attempts, timeout=timeout)

    def decorate(function: F) -> F:
        name = str(getattr(function, "__qualname__", repr(function)))
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                return await retry_call(name, policy, lambda: function(*args, **kwargs))

            return cast("F", run_async)

        @functools.wraps(function)
        def run_sync(*args: Any, **kwargs: Any) -> Any:
            failure: list[tuple[BaseException, float]] = []
            for attempt in stamina.retry_context(
                on=on, attempts=attempts, timeout=timeout, wait_initial=policy.wait_initial, wait_max=policy.wait_max
            ):
                if failure:
                    _log_retry(name, attempt.num, *failure[-1])
                with attempt:
                    try:
                        return function(*args, **kwargs)
                    except on as exc:
                        failure.append((exc, attempt.next_wait))
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

        return cast("F", run_sync)

    return decorate
