"""The pytest plugin's fixtures, loaded the way a project gets them: through the ``pytest11`` entry point
(nothing in this suite's conftest declares them). This file doubles as the example docs/adopting.md shows.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from shipyard.pipeline import Pipeline, StageContext
from shipyard.testing import FaultProxy, LocalRegistry, MotoServer, PipelineRunner, Project


def test_pipeline_runner_records_stage_order_and_outputs(shipyard_pipeline: PipelineRunner) -> None:
    pipeline = Pipeline("release")

    @pipeline.stage(produces="version")
    async def version(ctx: StageContext) -> dict[str, object]:
        ctx.print("reading the version")
        return {"version": "1.2.3"}

    @pipeline.stage(consumes="version", produces="tag")
    async def tag(ctx: StageContext) -> dict[str, object]:
        return {"tag": f"v{ctx.input('version')}"}

    run = shipyard_pipeline(pipeline)
    assert run.ok
    assert run.order == ["version", "tag"]
    assert run.outputs("tag") == {"tag": "v1.2.3"}
    assert "reading the version" in run.lines("version")


def test_a_failing_stage_is_reported_not_raised(shipyard_pipeline: PipelineRunner) -> None:
    pipeline = Pipeline("broken")

    @pipeline.stage()
    async def boom(ctx: StageContext) -> None:
        raise RuntimeError("registry said no")

    run = shipyard_pipeline(pipeline)
    assert not run.ok
    assert "registry said no" in (run.report.stage("boom").error or "")


@pytest.mark.registry
def test_fault_proxy_in_front_of_the_local_registry(
    shipyard_registry: LocalRegistry, shipyard_fault_proxy: Callable[..., FaultProxy]
) -> None:
    proxy = shipyard_fault_proxy(shipyard_registry.address, fail_first=1, fail_rate=0.0, modes=("503",))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as failed:
        opener.open(f"http://{proxy.address}/v2/", timeout=5)
    assert failed.value.code == 503
    failed.value.close()
    with opener.open(f"http://{proxy.address}/v2/", timeout=5) as response:
        assert response.status == 200
    assert (proxy.faults, proxy.requests) == (1, 2)


@pytest.mark.aws
def test_moto_server_with_aws_env_set(shipyard_moto: MotoServer) -> None:
    import boto3

    assert os.environ["AWS_ENDPOINT_URL"] == shipyard_moto.url
    s3: Any = boto3.client("s3")  # no endpoint or credentials passed: the environment points at moto
    s3.create_bucket(Bucket="plugin-example")
    assert "plugin-example" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.slow
def test_temporary_project_runs_real_nox(shipyard_project: Callable[..., Project]) -> None:
    project = shipyard_project(groups={"check": ["iniconfig"]}, sessions={"check": (["check"], ["python", "-V"])})
    project.lock()
    listed = project.nox("-l")
    assert listed.returncode == 0, listed.output
    assert "check" in listed.output
