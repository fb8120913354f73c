"""Clean-up for tests and benchmarks that deploy to a Docker engine."""

from __future__ import annotations

from typing import Any

__all__ = ["remove_environment"]


def remove_environment(client: Any, env: str) -> None:
    """Remove every container a docker-target deploy to ``env`` left: its services, its lock and its state."""
    found = client.containers.list(all=True, filters={"label": f"shipyard.env={env}"})
    for name in (f"shipyard-lock-{env}", f"shipyard-state-{env}"):
        found += client.containers.list(all=True, filters={"name": f"^/{name}$"})
    for container in found:
        container.remove(force=True)
