"""rich's console and live region drawn under one lock, so a log line and a refresh never draw the table twice.

rich's ``Live`` works out where the previous table started (under its own lock) but draws the new one after
letting go of it; a line printed from another thread while the refresh thread draws can then measure the same
old position, or none at all before the first draw, and the header appears a second time. Here every print and
everything ``Live`` does holds one re-entrant lock (the console's, which ``Live`` takes as its own), so one
drawing is finished before the next is measured. Imported only once a live view starts (it imports rich).
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.live import Live  # noqa: TID253 (this module is itself imported only when a live view starts)

__all__ = ["LockedConsole", "LockedLive"]


class LockedConsole(Console):
    """A console whose every print (log lines, redirected stderr/stdout, the live region) holds ``draw_lock``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.draw_lock = threading.RLock()

    def print(self, *args: Any, **kwargs: Any) -> None:
        with self.draw_lock:
            super().print(*args, **kwargs)


class LockedLive(Live):
    """``Live`` on a ``LockedConsole``, sharing its lock: rich takes ``Live._lock`` itself in places (its refresh
    thread, ``update``, ``process_renderables``), so two locks would deadlock in some order; one lock cannot."""

    def __init__(self, *args: Any, console: LockedConsole, **kwargs: Any) -> None:
        super().__init__(*args, console=console, **kwargs)
        self._lock = console.draw_lock
