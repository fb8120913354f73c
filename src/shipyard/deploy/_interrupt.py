"""Signals become a flag: SIGINT/SIGTERM during a deploy are checked between bounded steps, never raised mid-step.

A ``KeyboardInterrupt`` raised inside a docker-py or boto3 call leaves the target in a state nobody knows; a flag
that the deploy checks at each phase and inside every wait loop lets the target undo its work in order, in the
main thread, and the flow record ``interrupted``. Further signals while the undo runs are noted, not obeyed
(``kill -9`` remains, and the next deploy recovers from it).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from shipyard._errors import DeployInterrupted
from shipyard._logging import get_logger

__all__ = ["Interrupts", "catching_signals"]

log = get_logger("shipyard.deploy")


class Interrupts:
    """A stop request: set by a signal handler (or by the pipeline when it cancels the deploy stage)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name = ""

    def trip(self, name: str = "SIGINT") -> None:
        if self._event.is_set():
            log.warning("deploy.interrupt-again", signal=name, note="undoing the deploy; wait, or kill -9")
            return
        self.signal_name = name
        self._event.set()

    @property
    def tripped(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``DeployInterrupted`` once a stop was asked for."""
        if self._event.is_set():
            raise DeployInterrupted(f"interrupted by {self.signal_name}")

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking at once on a stop request (then raise ``DeployInterrupted``)."""
        if self._event.wait(max(seconds, 0.0)):
            self.check()


@contextlib.contextmanager
def catching_signals(interrupts: Interrupts) -> Iterator[Interrupts]:
    """Route SIGINT and SIGTERM to ``interrupts`` while the block runs (main thread only; elsewhere the caller
    trips it, e.g. the pipeline's own handler), then restore the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        interrupts.trip(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interrupts
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
