"""Large artifacts through the S3 store stream in parts (multipart upload, chunked download) on a real moto server."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.pipeline import S3Store
from shipyard.testing import MotoServer, moto_server

pytestmark = pytest.mark.aws

MIB = 1024 * 1024


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Store, MotoServer]]:
    with moto_server() as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        bucket = f"shipyard-blobs-{uuid.uuid4().hex[:12]}"
        server.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        yield S3Store(bucket, part_size=5 * MIB), server


def _artifact(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for _ in range(size // MIB):
            chunk = os.urandom(MIB)
            digest.update(chunk)
            fh.write(chunk)
    return digest.hexdigest()


def test_a_large_artifact_goes_up_in_parts_and_comes_back_whole(
    store: tuple[S3Store, MotoServer], tmp_path: Path
) -> None:
    s3, server = store
    source = tmp_path / "wheelhouse.tar"
    sha = _artifact(source, 17 * MIB)
    assert s3.put_file("k" * 64, source)
    head = server.client("s3").head_object(  # type: ignore[attr-defined]
        Bucket=s3.bucket, Key=f"shipyard-cache/kk/{'k' * 64}.blob", PartNumber=1
    )
    assert head["PartsCount"] == 4  # 5 + 5 + 5 + 2 MiB: it really was a multipart upload
    dest = tmp_path / "restored.tar"
    assert s3.get_file("k" * 64, dest, sha256=sha)
    assert dest.read_bytes() == source.read_bytes()
    assert not list(tmp_path.glob(".*.part"))


def test_a_digest_mismatch_or_a_miss_leaves_the_target_untouched(
    store: tuple[S3Store, MotoServer], tmp_path: Path
) -> None:
    s3, _ = store
    source = tmp_path / "a.bin"
    _artifact(source, 6 * MIB)
    assert s3.put_file("a" * 64, source)
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"previous")
    assert not s3.get_file("a" * 64, dest, sha256="0" * 64)
    assert not s3.get_file("b" * 64, dest)
    assert dest.read_bytes() == b"previous"
    assert not list(tmp_path.glob(".*.part"))


def test_an_unreachable_bucket_is_a_warning_not_a_crash(store: object, tmp_path: Path) -> None:
    # `store` only for the moto server and its AWS_* environment.
    source = tmp_path / "a.bin"
    _artifact(source, 11 * MIB)
    missing = S3Store("no-such-bucket-" + uuid.uuid4().hex[:8], part_size=5 * MIB)
    assert not missing.put_file("c" * 64, source)
    assert not missing.get_file("c" * 64, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_parts_smaller_than_s3_allows_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 5 MiB"):
        S3Store("b", part_size=MIB, client=object())
