"""The rule for tests whose real part (engine, registry, moto, a validator) is missing."""

from __future__ import annotations

from shipyard._logging import in_ci

__all__ = ["require"]


def require(reason: str) -> None:
    """Skip the test off CI; fail it under CI (``CI`` set), so a machine missing a part never passes as green."""
    import pytest  # only tests call this; `import shipyard.testing` must not need pytest

    if in_ci():
        pytest.fail(f"{reason} (CI must provide it: see ci/bootstrap.sh)", pytrace=False)
    pytest.skip(reason)
