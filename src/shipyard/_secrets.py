"""Secret redaction: register a secret's value once, and every channel scrubs it.

Channels (logs, live view, JSON reports, step summaries, subprocess output, exception messages) all pass text
through ``redact``; streams that may split a secret across two writes go through ``StreamRedactor``. Besides the
raw value, the encoded forms a secret commonly leaks in are scrubbed too: each line of a multi-line secret,
its JSON-escaped form, URL-encoded forms and base64 (standard and URL-safe, including when it sits inside a
longer base64 payload, such as a ``user:password`` basic-auth header).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse

__all__ = ["MASK", "Redactor", "StreamRedactor", "redact", "register_secret", "registry"]

MASK = "***"
#: Shorter values are not registered: masking "1" or "ab" everywhere would destroy logs and reveal nothing.
MIN_SECRET_LENGTH = 4


def _base64_forms(value: bytes) -> set[str]:
    """Base64 text that appears whenever ``value`` is encoded, at any of the three byte alignments."""
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value).decode()
        # Drop characters influenced by the padding bytes before and the unknown bytes after.
        start = (offset * 4 + 2) // 3 if offset else 0
        end = len(encoded.rstrip("=")) - (2 if (offset + len(value)) % 3 else 0)
        stable = encoded[start:end]
        if len(stable) >= MIN_SECRET_LENGTH:
            forms.add(stable)
            forms.add(stable.replace("+", "-").replace("/", "_"))
    return forms


def _forms(value: str) -> set[str]:
    forms = {value, json.dumps(value)[1:-1], urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    forms |= _base64_forms(value.encode())
    # A multi-line secret may be printed one line at a time, or wrapped by a terminal.
    forms |= {line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_SECRET_LENGTH}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Redactor:
    """A thread-safe set of secret values and the pattern that scrubs them (longest forms first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        """Scrub ``value`` (and its encoded forms) from everything redacted from now on."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._forms |= _forms(value)
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered))

    def clear(self) -> None:
        """Forget every registered secret (tests use this between cases)."""
        with self._lock:
            self._forms.clear()
            self._pattern = None

    @property
    def longest(self) -> int:
        """Length of the longest registered form: how much a stream must hold back."""
        return max((len(form) for form in self._forms), default=0)

    def redact(self, text: str) -> str:
        """``text`` with every registered form replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)


class StreamRedactor:
    """Redacts a stream written in pieces, holding back just enough text that a split secret is still caught."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self._redactor = redactor or registry
        self._pending = ""

    def feed(self, chunk: str) -> str:
        """Take the next piece of the stream; return the part that is safe to emit now."""
        text = self._pending + chunk
        hold = max(self._redactor.longest - 1, 0)
        if hold == 0:
            self._pending = ""
            return self._redactor.redact(text)
        # Emit all but the last `hold` characters: a secret starting in the emitted part is then complete in
        # ``text``. Cutting mid-line (not at a newline) keeps a long line without newlines from piling up.
        cut = len(text) - hold
        if cut <= 0:
            self._pending = text
            return ""
        head = text[:cut]
        safe = self._redactor.redact(text)  # redact the whole so a secret spanning the cut is masked once
        if self._redactor.redact(head) + self._redactor.redact(text[cut:]) != safe:
            # A secret straddles the cut: keep it all pending; the next piece moves the cut past it.
            self._pending = text
            return ""
        self._pending = text[cut:]
        return self._redactor.redact(head)

    def flush(self) -> str:
        """Everything still held back, redacted. Call once at the end of the stream."""
        text, self._pending = self._pending, ""
        return self._redactor.redact(text)


#: The process-wide registry every channel consults.
registry = Redactor()


def register_secret(value: str) -> None:
    """Register a secret value with the process-wide registry."""
    registry.register(value)


def redact(text: str) -> str:
    """Scrub every registered secret from ``text``."""
    return registry.redact(text)
