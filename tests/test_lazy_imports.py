"""`import shipyard` and `invoke --list` stay fast: they never import docker-py, boto3 or rich's live view."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# (invoke itself imports yaml); sigstore (and what it pulls in) loads only to sign or verify a Sigstore bundle.
HEAVY = ("docker", "boto3", "botocore", "moto", "rich.live", "sigstore", "sigstore_models", "tuf", "rfc3161_client")


def imported_modules(*args: str) -> set[str]:
    """Module names a fresh interpreter imports while running ``args`` (from -X importtime)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize(
    "args",
    [
        ("-c", "import shipyard, shipyard.nox"),
        ("-m", "invoke", "--list"),
        ("-m", "shipyard", "--help"),
        ("-c", "import shipyard.attest, shipyard.attest._policy, shipyard.deploy._config, shipyard.testing"),
    ],
    ids=["import shipyard", "invoke --list", "shipyard --help", "deploy config and testing helpers"],
)
def test_no_heavy_module_is_imported(args: tuple[str, ...]) -> None:
    modules = imported_modules(*args)
    assert "shipyard" in modules
    loaded = sorted(m for m in modules if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY)))
    assert loaded == [], f"{' '.join(args)} imported {loaded}"
