"""The deploy flow's target seam for gate tests: records what the flow asked of it (a gate refuses before any)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard._errors import DeployError
from shipyard.deploy import HistoryRecord, Shipped, deploy, get_environment


@dataclass
class RecordingTarget:
    """The deploy flow's seam, recording what the flow asked of it (the gate must refuse before any of it)."""

    kind: str = "recording"
    calls: list[str] = field(default_factory=list)
    records: list[HistoryRecord] = field(default_factory=list)
    written: list[tuple[str, bytes]] = field(default_factory=list)

    def lock(self) -> Any:
        self.calls.append("lock")
        calls = self.calls

        class _Lock:
            def acquire(self, holder: str) -> None:
                calls.append("acquire")

            def check(self) -> None:
                calls.append("check")

            def release(self) -> None:
                calls.append("release")

        return _Lock()

    def history(self) -> Any:
        """An in-memory journal (the flow's real one), seeded with ``records`` as whole records."""
        import json

        from shipyard.deploy._journal import Journal

        target = self

        class _Memory(Journal):
            def _write(self, name: str, data: bytes) -> None:
                target.written.append((name, data))

            def _read(self) -> list[tuple[str, bytes]]:
                seeded = [
                    (f"seed-{i}", json.dumps({"kind": "record", **r.to_dict()}).encode())
                    for i, r in enumerate(target.records)
                ]
                return seeded + sorted(target.written)

        return _Memory("recording")

    def recorded(self) -> list[HistoryRecord]:
        return list(self.history().records())

    def ship(self, image: str, deploy_id: str, **kwargs: Any) -> Shipped:
        self.calls.append(f"ship {image}")
        return Shipped(True)

    def status(self) -> dict[str, Any]:
        return {}


def refusal(root: Path, env: str, image: str) -> str:
    target = RecordingTarget()
    with pytest.raises(DeployError) as caught:
        deploy(get_environment(env, root), image, target=target)  # type: ignore[arg-type]
    assert target.calls == [], "the gate must refuse before the target is touched"
    assert target.recorded() == []
    message = str(caught.value)
    assert "\n" not in message
    return message
