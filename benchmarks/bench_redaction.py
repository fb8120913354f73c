"""Redaction cost, measured side by side in one run (medians): every output line of every channel pays it.

- ``redact`` of ordinary log lines with three secrets registered (one multi-line; every encoded form, MIME base64
  included) and an image reference protected, vs a naive redactor that only replaces the three raw values with
  one regex: goal <= 5x (the forms are one trie-shaped regex). Lines without a line break skip the MIME-wrapped
  patterns.
- the same on text blobs holding line breaks (the wrapped patterns apply): reported, no goal.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRETS = ("Pa55 w/ord 'q\"%x €-tail\nsecond-line-42", "tok3n->>>???-AbCd>?>?>?EfGh-12345", "hello")
LINE = "2026-12-01T12:00:00Z INFO pushing 127.0.0.1:5000/acme/hello-service layer 3/7 (4.2 MB of 11 MB) done "


def _median(measure: Callable[[], float], runs: int) -> float:
    return statistics.median(measure() for _ in range(runs))


def _time(function: Callable[[str], str], texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        function(text)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO / "src"))
    from shipyard._secrets import Redactor

    runs = int(argv[0]) if argv else 5
    redactor = Redactor()
    for secret in SECRETS:
        redactor.register(secret)
    redactor.protect("127.0.0.1:5000/acme/hello-service")
    naive = re.compile("|".join(re.escape(s) for s in sorted(SECRETS, key=len, reverse=True)))

    def naive_redact(text: str) -> str:
        return naive.sub("***", text)

    lines = [LINE] * 20_000
    blobs = ["\n".join([LINE] * 20)] * 1_000
    ours = _median(lambda: _time(redactor.redact, lines), runs)
    base = _median(lambda: _time(naive_redact, lines), runs)
    ours_blobs = _median(lambda: _time(redactor.redact, blobs), runs)
    base_blobs = _median(lambda: _time(naive_redact, blobs), runs)
    ratio = ours / base
    rows = [
        ("redact 20k lines (every form)", ours, "", ""),
        ("naive raw-value regex, same lines", base, "", ""),
        ("  ratio every form / raw only", ratio, "<= 5.00x", "ok" if ratio <= 5 else "MISSED"),
        ("redact 1k 20-line blobs (MIME forms on)", ours_blobs, "", ""),
        ("  ratio vs raw only", ours_blobs / base_blobs, "", ""),
    ]
    print(f"{'measurement':<44} {'value':>10}  {'goal':<10} result")
    for name, value, goal, verdict in rows:
        print(f"{name:<44} {value:>10.3f}  {goal:<10} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
