"""The S3 cache store against a real moto server reached over HTTP through AWS_ENDPOINT_URL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.pipeline import Pipeline, RunOptions, S3Store, StageContext
from shipyard.testing import MotoServer, moto_server

pytestmark = pytest.mark.aws


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    with moto_server() as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        yield server


KEY = "k" * 32


def _counting_pipeline(runs: list[str]) -> Pipeline:
    p = Pipeline("p")

    @p.stage(files="input.txt", env="MODE", cache=True)
    async def work(ctx: StageContext) -> None:
        runs.append(ctx.name)
        ctx.summary = "did the work"

    return p


def _object(key: str) -> str:
    """The object name of an entry: an HMAC of its key under the signing key (each key has its own namespace)."""
    import hashlib
    import hmac

    return hmac.new(KEY.encode(), key.encode(), hashlib.sha256).hexdigest()


def _bucket(moto: MotoServer) -> str:
    bucket = f"shipyard-cache-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    return bucket


def _checkout(path: Path) -> Path:
    path.mkdir()
    (path / "input.txt").write_text("same content\n")
    return path


def _options(root: Path, store: S3Store, **environ: str) -> RunOptions:
    return RunOptions(root=root, store=store, reporters=[], environ={"MODE": "release", **environ})


async def test_s3_store_shares_signed_results_between_checkouts(moto: MotoServer, tmp_path: Path) -> None:
    bucket = _bucket(moto)
    runs: list[str] = []
    developer, ci = _checkout(tmp_path / "developer"), _checkout(tmp_path / "ci")
    signed = {"SHIPYARD_CACHE_SIGNING_KEY": KEY}
    first = await _counting_pipeline(runs).run_async(_options(developer, S3Store(bucket), **signed))
    second = await _counting_pipeline(runs).run_async(_options(ci, S3Store(bucket), **signed))
    assert runs == ["work"]
    assert first.stage("work").cache == "miss"
    assert second.stage("work").cache == "hit"
    assert second.stage("work").summary == "did the work"
    key = first.stage("work").key
    assert key is not None
    obj = _object(key)
    listed = moto.client("s3").list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    # The entry, and the signed record of the last stored run's inputs (what `--explain` compares against).
    last = _object("last-inputs:work")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(
        [f"shipyard-cache/{obj[:2]}/{obj}.json", f"shipyard-cache/{last[:2]}/{last}.json"]
    )
    body = moto.client("s3").get_object(Bucket=bucket, Key=f"shipyard-cache/{obj[:2]}/{obj}.json")  # type: ignore[attr-defined]
    stored = body["Body"].read()
    assert stored.startswith(b"shipyard-hmac-sha256:")
    assert b"release" not in stored  # the env value is keyed, never stored


async def test_unsigned_and_badly_signed_entries_are_misses(moto: MotoServer, tmp_path: Path) -> None:
    import hashlib
    import hmac

    bucket = _bucket(moto)
    s3 = moto.client("s3")
    runs: list[str] = []
    signed = {"SHIPYARD_CACHE_SIGNING_KEY": KEY}
    first = await _counting_pipeline(runs).run_async(_options(_checkout(tmp_path / "ci"), S3Store(bucket), **signed))
    key = first.stage("work").key
    assert key is not None
    obj = _object(key)
    name = f"shipyard-cache/{obj[:2]}/{obj}.json"
    body = s3.get_object(Bucket=bucket, Key=name)["Body"].read().partition(b"\n")[2]  # type: ignore[attr-defined]
    forged = body.replace(b"did the work", b"forged result")
    # Someone with write access to the bucket but another key: signed, badly.
    bad = hmac.new(b"attacker key, not ours", forged, hashlib.sha256).hexdigest().encode()
    s3.put_object(Bucket=bucket, Key=name, Body=b"shipyard-hmac-sha256:" + bad + b"\n" + forged)  # type: ignore[attr-defined]
    report = await _counting_pipeline(runs).run_async(_options(_checkout(tmp_path / "ci2"), S3Store(bucket), **signed))
    assert runs == ["work", "work"]
    assert report.stage("work").cache == "miss"
    assert report.stage("work").summary == "did the work"
    assert any("signature does not match" in w for w in report.warnings), report.warnings

    s3.put_object(Bucket=bucket, Key=name, Body=forged)  # type: ignore[attr-defined]
    report = await _counting_pipeline(runs).run_async(_options(_checkout(tmp_path / "ci3"), S3Store(bucket), **signed))
    assert report.stage("work").cache == "miss"
    assert any("not signed" in w for w in report.warnings), report.warnings
    assert runs == ["work", "work", "work"]
    # The rejected entry was dropped and replaced by a good one: the next checkout hits.
    report = await _counting_pipeline(runs).run_async(_options(_checkout(tmp_path / "ci4"), S3Store(bucket), **signed))
    assert report.stage("work").cache == "hit"


async def test_shared_store_without_a_key_is_not_used_and_said_once(moto: MotoServer, tmp_path: Path) -> None:
    bucket = _bucket(moto)
    runs: list[str] = []
    report = await _counting_pipeline(runs).run_async(_options(_checkout(tmp_path / "a"), S3Store(bucket)))
    assert report.ok
    assert len(report.warnings) == 1
    assert "SHIPYARD_CACHE_SIGNING_KEY is not set" in report.warnings[0]
    assert "Contents" not in moto.client("s3").list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]


async def test_read_only_store_is_read_but_never_written(moto: MotoServer, tmp_path: Path) -> None:
    bucket = _bucket(moto)
    runs: list[str] = []
    signed = {"SHIPYARD_CACHE_SIGNING_KEY": KEY}
    fork = await _counting_pipeline(runs).run_async(
        _options(_checkout(tmp_path / "fork"), S3Store(bucket), SHIPYARD_CACHE_READ_ONLY="1", **signed)
    )
    assert fork.ok
    assert "Contents" not in moto.client("s3").list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    await _counting_pipeline(runs).run_async(_options(_checkout(tmp_path / "main"), S3Store(bucket), **signed))
    again = await _counting_pipeline(runs).run_async(
        _options(_checkout(tmp_path / "fork2"), S3Store(bucket), SHIPYARD_CACHE_READ_ONLY="true", **signed)
    )
    assert again.stage("work").cache == "hit"
    assert runs == ["work", "work"]


async def test_unreachable_store_is_one_warning_and_a_miss(moto: MotoServer, tmp_path: Path) -> None:
    runs: list[str] = []
    p = Pipeline("p")
    for name in ("one", "two", "three"):

        @p.stage(name=name, cache=True)
        async def work(ctx: StageContext) -> None:
            runs.append(ctx.name)

    store = S3Store("no-such-bucket-" + uuid.uuid4().hex[:8])
    report = await p.run_async(
        RunOptions(root=tmp_path, store=store, reporters=[], environ={"SHIPYARD_CACHE_SIGNING_KEY": KEY})
    )
    assert report.ok
    assert sorted(runs) == ["one", "three", "two"]
    assert len(report.warnings) == 1, report.warnings
    assert "failed on get" in report.warnings[0]
    assert "NoSuchBucket" in report.warnings[0]
    assert report.path is not None
    assert report.path.is_file()


async def test_a_store_refusing_connections_is_one_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.testing import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    runs: list[str] = []
    report = await _counting_pipeline(runs).run_async(
        _options(_checkout(tmp_path / "a"), S3Store("bucket"), SHIPYARD_CACHE_SIGNING_KEY=KEY)
    )
    assert report.ok
    assert runs == ["work"]
    assert len(report.warnings) == 1
    assert "failed on get" in report.warnings[0]
    assert "Could not connect" in report.warnings[0]
