"""``invoke check`` with a shared S3 store (``SHIPYARD_CACHE_STORE``) on a real moto server: two checkouts share
proven results, a machine with another key misses without deleting anyone's entries, a bad URL is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.testing import MotoServer, make_check_project, moto_server

INVOKE = str(Path(sys.executable).parent / "invoke")
KEY = "a-signing-key-of-32-characters!!"

pytestmark = pytest.mark.aws


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def _check(root: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_", "GITHUB_"))}
    env = {**keep, "CI": "true", "AWS_CONFIG_FILE": str(root / "no-aws"), **extra}
    return subprocess.run([INVOKE, "check"], cwd=root, capture_output=True, text=True, env=env, check=False)


def _caches(root: Path) -> set[str]:
    report = json.loads((root / ".shipyard" / "runs" / "latest.json").read_text())
    return {s["cache"] for s in report["stages"]}


def _objects(moto: MotoServer, bucket: str) -> list[str]:
    listed = moto.client("s3").list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_checkouts_share_proven_results_and_another_key_touches_none_of_them(moto: MotoServer, tmp_path: Path) -> None:
    bucket = f"check-store-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    store = {**moto.env, "SHIPYARD_CACHE_STORE": f"s3://{bucket}/team", "SHIPYARD_CACHE_SIGNING_KEY": KEY}

    developer = make_check_project(tmp_path / "developer")
    first = _check(developer, store)
    assert first.returncode == 0, first.stderr
    assert _caches(developer) == {"miss"}
    stored = _objects(moto, bucket)
    assert stored
    assert all(name.startswith("team/") for name in stored)

    ci = make_check_project(tmp_path / "ci")  # another checkout of the same content: every stage is proven
    second = _check(ci, store)
    assert second.returncode == 0, second.stderr
    assert _caches(ci) == {"hit"}
    assert (ci / "dist" / "app.whl").read_text() == "whl"  # the build's output came from the store

    other = make_check_project(tmp_path / "other-key")
    third = _check(other, {**store, "SHIPYARD_CACHE_SIGNING_KEY": "another-key-entirely-32-chars!!!"})
    assert third.returncode == 0, third.stderr
    assert _caches(other) == {"miss"}  # another key sees none of this key's entries ...
    after = _objects(moto, bucket)
    assert set(stored) < set(after)  # ... and writes its own beside them

    again = make_check_project(tmp_path / "again")  # ... nor deleted or overwritten for the machines that can
    fourth = _check(again, store)
    assert fourth.returncode == 0, fourth.stderr
    assert _caches(again) == {"hit"}


def test_a_store_url_that_is_not_s3_is_one_line(tmp_path: Path) -> None:
    root = make_check_project(tmp_path / "proj")
    result = _check(root, {"SHIPYARD_CACHE_STORE": "https://bucket.example/cache"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "$SHIPYARD_CACHE_STORE" in lines[0]
    assert "s3://BUCKET" in lines[0]
    assert "Traceback" not in result.stderr
