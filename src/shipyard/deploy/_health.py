"""HTTP health checks with a deadline (stdlib only, no proxies: the target is a loopback or private address)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

__all__ = ["probe", "wait_for", "wait_healthy"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """One GET: (healthy, what happened)."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return 200 <= response.status < 300, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, urllib.error.URLError) as exc:
        return False, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def wait_healthy(
    url: str,
    timeout: float,
    *,
    alive: Callable[[], str | None] = lambda: None,
    interval: float = 0.1,
) -> tuple[bool, str]:
    """Poll ``url`` until it answers 2xx or ``timeout`` passes. ``alive()`` returns why to stop early (exited)."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        healthy, last = probe(url, timeout=min(2.0, max(timeout, 0.1)))
        if healthy:
            return True, last
        dead = alive()
        if dead:
            return False, dead
        if time.monotonic() >= deadline:
            return False, f"not healthy after {timeout:.0f} s (last: {last})"
        time.sleep(interval)


def wait_for(
    verdict: Callable[[], tuple[bool, str]],
    timeout: float,
    *,
    alive: Callable[[], str | None],
    check: Callable[[], None] = lambda: None,
    interval: float = 0.1,
) -> tuple[bool, str]:
    """Poll ``verdict()`` (healthy?, what happened) until it says healthy or ``timeout`` passes. Between polls
    ``alive()`` returns why to stop at once (the container exited), and ``check()`` may raise (an interrupt)."""
    deadline = time.monotonic() + timeout
    last = "no check yet"
    while True:
        check()
        dead = alive()
        if dead:
            return False, f"{dead} (last check: {last})"
        healthy, last = verdict()
        if healthy:
            return True, last
        if time.monotonic() >= deadline:
            return False, f"not healthy after {timeout:g} s (last check: {last})"
        time.sleep(interval)
