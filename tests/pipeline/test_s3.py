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


async def test_s3_store_shares_results_between_checkouts(moto: MotoServer, tmp_path: Path) -> None:
    bucket = f"shipyard-cache-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    runs: list[str] = []

    def pipeline() -> Pipeline:
        p = Pipeline("p")

        @p.stage(files="input.txt", cache=True)
        async def work(ctx: StageContext) -> None:
            runs.append(ctx.name)
            ctx.summary = "did the work"

        return p

    checkouts = [tmp_path / "developer", tmp_path / "ci"]
    for checkout in checkouts:
        checkout.mkdir()
        (checkout / "input.txt").write_text("same content\n")
    first = await pipeline().run_async(RunOptions(root=checkouts[0], store=S3Store(bucket), reporters=[]))
    second = await pipeline().run_async(RunOptions(root=checkouts[1], store=S3Store(bucket), reporters=[]))
    assert runs == ["work"]
    assert first.stage("work").cache == "miss"
    assert second.stage("work").cache == "hit"
    assert second.stage("work").summary == "did the work"
    listed = moto.client("s3").list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    assert [o["Key"] for o in listed["Contents"]] == [
        f"shipyard-cache/{first.stage('work').key[:2]}/{first.stage('work').key}.json"  # type: ignore[index]
    ]


async def test_unreachable_store_is_a_miss_not_a_failure(moto: MotoServer, tmp_path: Path) -> None:
    runs: list[str] = []
    p = Pipeline("p")

    @p.stage(cache=True)
    async def work(ctx: StageContext) -> None:
        runs.append(ctx.name)

    store = S3Store("no-such-bucket-" + uuid.uuid4().hex[:8])
    report = await p.run_async(RunOptions(root=tmp_path, store=store, reporters=[]))
    assert report.ok
    assert runs == ["work"]
