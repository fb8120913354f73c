"""The rule for tests whose real part (engine, registry, moto, a validator) is missing."""

from __future__ import annotations

from shipyard._logging import in_ci

__all__ = ["require", "require_tool"]


def require(reason: str) -> None:
    """Skip the test off CI; fail it under CI (``CI`` set), so a machine missing a part never passes as green."""
    import pytest  # only tests call this; `import shipyard.testing` must not need pytest

    if in_ci():
        pytest.fail(f"{reason} (CI must provide it: see ci/bootstrap.sh)", pytrace=False)
    pytest.skip(reason)


def require_tool(command: str, package: str) -> str:
    """The path of ``command`` (a name on PATH or an absolute path); missing, ``require`` names its Debian package."""
    import os
    import shutil
    from pathlib import Path

    found = command if Path(command).is_absolute() and os.access(command, os.X_OK) else shutil.which(command)
    if found is None:
        require(f"{command} is missing: install the Debian package {package} (`bash ci/system-packages.sh`)")
    return str(found)
