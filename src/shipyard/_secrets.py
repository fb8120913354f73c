"""Secret redaction: register a secret's value once, and every channel scrubs it.

Channels (logs, live view, JSON reports, step summaries, subprocess output, exception messages) all pass text
through ``redact``; streams that may split a secret across two writes go through ``StreamRedactor``; structured
data is redacted field by field with ``redact_fields`` before it is serialized.

Forms scrubbed for every secret (docs/errors.md lists them): the raw value; each line of a multi-line value;
JSON string escaping (``ensure_ascii`` on and off); ``repr()`` of the str and of its UTF-8 bytes;
``shlex.quote()``; percent-encoding (``quote`` with ``safe=''`` and the default ``safe='/'``, ``quote_plus``;
upper- and lower-case hex); base64, standard and URL-safe, at any of the three byte alignments (so inside a
longer payload such as ``user:password``), also when MIME-wrapped (a line break anywhere inside).

Identifiers are never rewritten: a secret that is a common word ("hello") must not turn ``acme/hello-service``
into ``acme/***-service``. Spans that are registered identifiers (``protect``: image repositories and references
Shipyard reads from its config or produces), ``sha256:`` digests and ISO-8601 timestamps are copied as they are,
and only text outside them is masked. A secret under ``MIN_SECRET_LENGTH`` characters cannot be masked safely,
so ``register`` refuses it with one line naming where it came from.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shlex
import threading
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from typing import Any

from shipyard._errors import ConfigError

__all__ = [
    "IDENTIFIER_KEYS",
    "MASK",
    "MIN_SECRET_LENGTH",
    "Redactor",
    "StreamRedactor",
    "protect",
    "redact",
    "redact_fields",
    "register_secret",
    "registry",
]

MASK = "***"
#: Shorter values are refused: masking "1" or "ab" everywhere would destroy logs and reveal the value anyway.
MIN_SECRET_LENGTH = 4
#: MIME base64 (``base64.encodebytes``, email) breaks lines every 76 characters; in JSON the break is escaped.
_WRAP = r"(?:\r?\n|(?:\\r)?\\n)?"

#: Public identifiers that are never rewritten, whatever secret they happen to contain: JSON keys that are
#: lowercase snake_case names (``"image":``, the schema of a log line or report; a token-like key such as
#: ``"AbC123":`` is still masked) with the number they hold (``"started_at": 1796169819.6`` must stay JSON when
#: the PIN is "1796"; a number that is the whole secret, ``{"pin": 1796}``, is masked all the same), digests,
#: timestamps.
_GENERIC = (
    r"\"[a-z_][a-z0-9_]{0,31}\": ?(?P<number>-?\d{1,20}(?:\.\d{1,20})?(?:[eE][+-]?\d{1,3})?(?![\d.eE]))?"
    r"|sha256:[0-9a-f]{64}"
    r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
)
_LONGEST_GENERIC = 90  # a JSON key and its number ("sha256:" and 64 hex digits is 71)
#: An identifier's syntax: an image reference, digest, id, timestamp or number (see ``redact_fields``).
_IDENTIFIER = r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*"
#: A field name ``redact_fields`` never rewrites (the same rule as a JSON key in ``_GENERIC``).
_FIELD_NAME = r"[a-z_][a-z0-9_]{0,31}"
#: Fields ``redact_fields`` keeps as they are when their value has an identifier's syntax.
IDENTIFIER_KEYS = frozenset(
    {
        "deploy_id",
        "digest",
        "ended",
        "ended_at",
        "id",
        "image",
        "previous_image",
        "reference",
        "references",
        "repository",
        "started",
        "started_at",
        "tags",
        "timestamp",
    }
)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Compiled on first use, not at import: `import shipyard` stays cheap.
    return re.compile(pattern)


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


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _escaped_forms(value: str) -> set[str]:
    """``value`` as it appears quoted or escaped by the usual encoders."""
    quoted = {
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        urllib.parse.quote_plus(value, safe="/"),
    }
    # shlex.quote: whole, and without its outer quotes (a multi-line value is printed one line at a time).
    forms = {value, shlex.quote(value), shlex.quote(value).strip("'"), *quoted, *(_lower_hex(f) for f in quoted)}
    forms |= {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return forms | {repr(value)[1:-1], repr(value.encode())[2:-1]}


def _text_forms(value: str) -> set[str]:
    """Every escaped or quoted form of ``value`` (each one a literal to find)."""
    forms = _escaped_forms(value)
    # A multi-line secret may be printed one line at a time (escaped like any text), or wrapped by a terminal.
    for line in value.splitlines():
        if len(line.strip()) >= MIN_SECRET_LENGTH:
            forms |= _escaped_forms(line) | _escaped_forms(line.strip())
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _forms(value: str) -> set[str]:
    """Every literal form of ``value`` to mask (its base64 forms also match MIME-wrapped, see ``_trie``)."""
    return _text_forms(value) | _base64_forms(value.encode())


def _trie(words: set[str], *, wrap: bool) -> str:
    """One regex matching any of ``words``, longest first, built as a trie so each position costs one branch.

    With ``wrap``, a line break (or an escaped ``\\n``) may sit between any two characters: MIME base64.
    """
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here
    sep = _WRAP if wrap else ""

    def emit(node: dict[str, Any], lead: str) -> str:
        alternatives = []
        for char in sorted(k for k in node if k):
            child, chain = node[char], [re.escape(char)]
            while len(child) == 1 and "" not in child:  # a run of single children: one literal, no group
                ((step, child),) = child.items()
                chain.append(re.escape(step))
            alternatives.append(lead + sep.join(chain) + emit(child, sep))
        ends = "" in node
        if not alternatives:
            return ""
        if len(alternatives) == 1 and not ends:
            return alternatives[0]
        # The separator leads each alternative, so an optional tail never swallows a line break after a match.
        return "(?:" + "|".join(alternatives) + ")" + ("?" if ends else "")

    return emit(root, "")


class Redactor:
    """A thread-safe set of secret values and the pattern that scrubs them (longest forms first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, set[str]] = {}
        #: Replaced, never changed in place: ``redact`` reads it without the lock from other threads.
        self._identifiers: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._wrapped: re.Pattern[str] | None = None
        self._longest = 0

    def register(self, value: str, *, source: str = "a secret") -> None:
        """Scrub ``value`` (and its encoded forms) from everything redacted from now on.

        Raises ``ConfigError`` naming ``source`` when the value is too short to mask safely.
        """
        # Measured without surrounding whitespace: "abc\n" (a value saved with its newline) prints as "abc".
        if len(value.strip()) < MIN_SECRET_LENGTH:
            bare = "" if value == value.strip() else " without surrounding whitespace"
            raise ConfigError(
                f"{source}: the secret is {len(value.strip())} character(s) long{bare}, too short to keep out of "
                "logs; "
                f"use a value of at least {MIN_SECRET_LENGTH} characters"
            )
        with self._lock:
            if value not in self._secrets:
                self._secrets[value] = _forms(value)
                self._compile()

    def protect(self, identifier: str) -> None:
        """Never rewrite ``identifier`` (an image repository or reference) where it appears as a whole."""
        if len(identifier) >= MIN_SECRET_LENGTH:
            with self._lock:
                if identifier not in self._identifiers:
                    self._identifiers = self._identifiers | {identifier}
                    if self._pattern is not None:  # a stream must hold back enough to see it whole
                        self._longest = max(self._longest, len(identifier))

    def _compile(self) -> None:
        forms = set().union(*self._secrets.values()) if self._secrets else set()
        if not forms:
            self._pattern, self._wrapped, self._longest = None, None, 0
            return
        # Text without a line break cannot hold a MIME-wrapped form: it gets the (faster) literal pattern.
        self._pattern = re.compile(_trie(forms, wrap=False))
        self._wrapped = re.compile(_trie(forms, wrap=True))
        longest = max(map(len, forms))
        # Room for the MIME line breaks a base64 form may carry, and for an identifier straddling a cut.
        self._longest = max(longest + 2 * (longest // 76 + 1), max(map(len, self._identifiers), default=0))

    def _covered(self, text: str, start: int, end: int) -> bool:
        """True when ``text[start:end]`` lies wholly inside a registered identifier, a digest or a timestamp."""
        for identifier in self._identifiers:
            # An occurrence found in this range necessarily covers the match.
            if text.find(identifier, max(0, end - len(identifier)), start + len(identifier)) != -1:
                return True
        window_start = max(0, end - _LONGEST_GENERIC)
        return any(
            m.start() <= start and end <= m.end() and m.span("number") != (start, end)
            for m in _compiled(_GENERIC).finditer(text, window_start, start + _LONGEST_GENERIC)
        )

    def clear(self) -> None:
        """Forget every registered secret and identifier (tests use this between cases)."""
        with self._lock:
            self._secrets.clear()
            self._identifiers = frozenset()
            self._pattern, self._wrapped, self._longest = None, None, 0

    @property
    def longest(self) -> int:
        """Length of the longest text a match can span: how much a stream must hold back."""
        return self._longest

    def redact(self, text: str) -> str:
        """``text`` with every registered form replaced by ``***``, except inside identifiers."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        if ("\n" in text or "\\n" in text) and self._wrapped is not None:
            pattern = self._wrapped
        found = list(pattern.finditer(text))
        if not found:
            return text
        parts, pos = [], 0
        for match in found:
            start, end = match.span()
            if self._covered(text, start, end):
                continue  # wholly inside a public identifier
            parts += [text[pos:start], MASK]
            pos = end
        parts.append(text[pos:])
        return "".join(parts)


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


def register_secret(value: str, *, source: str = "a secret") -> None:
    """Register a secret value with the process-wide registry; ``source`` names it if it is refused."""
    registry.register(value, source=source)


def protect(*identifiers: str) -> None:
    """Register public identifiers (image repositories, references) that redaction must never rewrite."""
    for identifier in identifiers:
        if identifier:
            registry.protect(identifier)


def redact(text: str) -> str:
    """Scrub every registered secret from ``text``."""
    return registry.redact(text)


def redact_fields(
    data: Any, *, keep: Collection[str] = IDENTIFIER_KEYS, scrub: Callable[[str], str] | None = None
) -> Any:
    """``data`` (mappings, sequences, scalars) with every string redacted, field by field, before serialization.

    A field named in ``keep`` whose value has an identifier's syntax (an image reference, digest, id or
    timestamp) is copied unchanged: identifiers are public, and a common-word secret must not mangle them.
    Anything else that is not a JSON scalar is turned into its redacted ``str()``.
    """
    scrub = scrub or redact
    if isinstance(data, str):
        return scrub(data)
    if data is None or isinstance(data, bool | int | float):
        return data
    if isinstance(data, Mapping):
        return {_key(str(k), scrub): _field(str(k), v, keep, scrub) for k, v in data.items()}
    if isinstance(data, list | tuple | set | frozenset):
        return [redact_fields(item, keep=keep, scrub=scrub) for item in data]
    return scrub(str(data))


def _key(key: str, scrub: Callable[[str], str]) -> str:
    """A lowercase snake_case field name (``image``, ``result``) is schema, kept; any other key is scrubbed."""
    return key if _compiled(_FIELD_NAME).fullmatch(key) else scrub(key)


def _field(key: str, value: Any, keep: Collection[str], scrub: Callable[[str], str]) -> Any:
    if key in keep and _is_identifier(value) and not _names_a_secret(value, scrub):
        return list(value) if isinstance(value, list | tuple) else value
    return redact_fields(value, keep=keep, scrub=scrub)


def _names_a_secret(value: Any, scrub: Callable[[str], str]) -> bool:
    """True when a whole component of an identifier (between ``/ : @``) is a secret: then it is masked anyway.

    A secret that is only part of a component ("hello" in ``hello-service``) leaves the identifier whole.
    """
    items = value if isinstance(value, list | tuple) else [value]
    return any(scrub(part) == MASK for item in items if isinstance(item, str) for part in re.split(r"[/:@]", item))


def _is_identifier(value: Any) -> bool:
    if isinstance(value, str):
        return value == "" or _compiled(_IDENTIFIER).fullmatch(value) is not None
    if isinstance(value, list | tuple):
        return all(isinstance(item, str) and _is_identifier(item) for item in value)
    return isinstance(value, int | float) and not isinstance(value, bool)
