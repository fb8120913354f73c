"""Reading the Engine's JSON streams line by line: build output and push progress.

Both streams arrive with HTTP 200 and report failure *inside* the stream (``error``/``errorDetail``), so every
line is parsed, and the outcome is decided from what the stream said, never from the HTTP status alone.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["BuildEvent", "BuildStep", "BuildStream", "PushStream"]

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
TAIL_LINES = 30


@dataclass(frozen=True)
class BuildEvent:
    """One thing a build reported: a new ``step``, a line of ``output``, a ``cached`` step, or an ``error``."""

    kind: Literal["step", "output", "cached", "error"]
    text: str
    step: int | None = None
    total: int | None = None


@dataclass
class BuildStep:
    """A Dockerfile instruction the builder ran, and whether it came from the layer cache."""

    number: int
    instruction: str
    cached: bool = False


@dataclass
class BuildStream:
    """Accumulates a build stream: steps, the log tail, the image ID (``aux.ID``) and the first error."""

    steps: list[BuildStep] = field(default_factory=list)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    image_id: str | None = None
    error: str | None = None
    total: int | None = None

    def feed(self, line: Mapping[str, Any]) -> list[BuildEvent]:
        """Take one decoded line; return the events it carries, for a live view or a log."""
        events: list[BuildEvent] = []
        if "error" in line or "errorDetail" in line:
            detail = line.get("errorDetail") or {}
            message = str(detail.get("message") or line.get("error") or "unknown error").strip()
            self.error = self.error or message
            self.tail.append(message)
            return [BuildEvent("error", message, self.current, self.total)]
        aux = line.get("aux")
        if isinstance(aux, Mapping) and "ID" in aux:
            self.image_id = str(aux["ID"])
        text = line.get("stream")
        if not isinstance(text, str):
            return events
        for raw in text.splitlines():
            stripped = raw.rstrip()
            if not stripped:
                continue
            self.tail.append(stripped)
            if match := _STEP.match(stripped):
                self.total = int(match.group(2))
                self.steps.append(BuildStep(int(match.group(1)), match.group(3)))
                events.append(BuildEvent("step", match.group(3), int(match.group(1)), self.total))
            elif stripped.strip() == "---> Using cache" and self.steps:
                self.steps[-1].cached = True
                events.append(BuildEvent("cached", self.steps[-1].instruction, self.current, self.total))
            else:
                events.append(BuildEvent("output", stripped, self.current, self.total))
        return events

    @property
    def current(self) -> int | None:
        return self.steps[-1].number if self.steps else None

    @property
    def failing_step(self) -> str:
        if not self.steps:
            return "before the first step"
        step = self.steps[-1]
        return f"step {step.number}/{self.total} ({step.instruction})"


@dataclass
class PushStream:
    """Accumulates a push stream: the manifest digest (``aux.Digest`` or the final status) and any error."""

    digest: str | None = None
    error: str | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    #: Per layer: [bytes sent, bytes total, done]; from the ``progressDetail`` and status of each line.
    layers: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def progress(self) -> dict[str, int]:
        """Layers done of those seen, and bytes sent of the known totals (layers the registry had count as done)."""
        return {
            "layers_done": sum(1 for layer in self.layers.values() if layer[2]),
            "layers": len(self.layers),
            "bytes_done": sum(layer[1] if layer[2] else layer[0] for layer in self.layers.values()),
            "bytes_total": sum(layer[1] for layer in self.layers.values()),
        }

    def _track(self, layer: str, status: str, detail: Any) -> None:
        state = self.layers.setdefault(layer, [0, 0, False])
        if isinstance(detail, Mapping):
            current, total = detail.get("current"), detail.get("total")
            if isinstance(total, int) and total > 0:
                state[1] = total
            if isinstance(current, int):
                state[0] = current
        if status in {"Pushed", "Layer already exists", "Mounted from"} or status.startswith("Mounted from"):
            state[2] = True

    def feed(self, line: Mapping[str, Any]) -> None:
        if "error" in line or "errorDetail" in line:
            detail = line.get("errorDetail") or {}
            message = str(detail.get("message") or line.get("error") or "unknown error").strip()
            self.error = self.error or message
            self.tail.append(message)
            return
        aux = line.get("aux")
        if isinstance(aux, Mapping) and isinstance(aux.get("Digest"), str):
            self.digest = aux["Digest"]
        status = line.get("status")
        if isinstance(status, str):
            if match := _DIGEST.search(status):
                self.digest = self.digest or match.group(1)
            if "id" in line and not _DIGEST.search(status):
                self._track(str(line["id"]), status, line.get("progressDetail"))
            if "id" in line:
                status = f"{line['id']}: {status}"
            self.tail.append(status)
