"""Cleanup hooks: what a run must undo however it ends (temporary containers, scratch registries...).

Code that creates something temporary registers a callback and removes the registration once it cleaned up
itself. Whatever is still registered when a run ends (failure, fail-fast cancellation, SIGINT/SIGTERM) runs
then, newest first. A failing hook is logged and does not stop the others.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable

from shipyard._logging import get_logger
from shipyard._secrets import redact

__all__ = ["Cleanup", "CleanupRegistry", "add_cleanup", "cleanups"]

Cleanup = Callable[[], object | Awaitable[object]]


class CleanupRegistry:
    """A LIFO of cleanup callbacks, each removable through the function ``add`` returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[int, tuple[str, Cleanup]] = {}
        self._next = 0

    def add(self, callback: Cleanup, *, name: str | None = None) -> Callable[[], None]:
        """Register ``callback``; call the returned function to unregister it (after cleaning up yourself)."""
        with self._lock:
            token = self._next
            self._next += 1
            self._hooks[token] = (name or str(getattr(callback, "__qualname__", "cleanup")), callback)

        def remove() -> None:
            with self._lock:
                self._hooks.pop(token, None)

        return remove

    def __len__(self) -> int:
        return len(self._hooks)

    async def run_all(self) -> list[str]:
        """Run and forget every registered hook, newest first; return the names of those that failed."""
        with self._lock:
            hooks = [self._hooks[token] for token in sorted(self._hooks, reverse=True)]
            self._hooks.clear()
        failed: list[str] = []
        log = get_logger("pipeline")
        for name, callback in hooks:
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - one failed hook must not stop the rest
                failed.append(name)
                log.error("cleanup failed", hook=name, error=redact(f"{type(exc).__name__}: {exc}"))
            else:
                log.info("cleaned up", hook=name)
        return failed


#: The process-wide registry every pipeline run drains when it ends.
cleanups = CleanupRegistry()


def add_cleanup(callback: Cleanup, *, name: str | None = None) -> Callable[[], None]:
    """Register ``callback`` with the process-wide registry; returns the function that unregisters it."""
    return cleanups.add(callback, name=name)
