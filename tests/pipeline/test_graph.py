"""The graph is checked before anything runs: cycles, missing inputs, duplicates; --plan shows it."""

from __future__ import annotations

import pytest

from shipyard.pipeline import Pipeline, PlanError, RunOptions, StageContext

ran: list[str] = []


async def body(ctx: StageContext) -> None:
    ran.append(ctx.name)


def test_dependencies_come_from_consumed_artifacts() -> None:
    p = Pipeline("p")
    p.stage("deploy", consumes="image")(body)
    p.stage("image", consumes="wheel", produces="image")(body)
    p.stage("build", produces="wheel")(body)
    graph = p.graph()
    assert graph.order == ("build", "image", "deploy")
    assert graph.upstream["deploy"] == ("image",)


def test_cycle_is_an_error_before_anything_runs(options: RunOptions) -> None:
    ran.clear()
    p = Pipeline("p")
    p.stage("a", consumes="y", produces="x")(body)
    p.stage("b", consumes="x", produces="y")(body)
    p.stage("c")(body)
    with pytest.raises(PlanError, match=r"cycle: a -> b -> a"):
        p.run(options)
    assert ran == []


def test_missing_input_names_the_stage_and_artifact(options: RunOptions) -> None:
    ran.clear()
    p = Pipeline("p")
    p.stage("ok")(body)
    p.stage("push", consumes="image")(body)
    with pytest.raises(PlanError, match=r"stage 'push' consumes 'image', which no stage produces"):
        p.run(options)
    assert ran == []


def test_unknown_after_and_duplicates_are_errors() -> None:
    p = Pipeline("p")
    p.stage("a", after="nope")(body)
    with pytest.raises(PlanError, match="'nope', which is not a stage"):
        p.graph()
    q = Pipeline("q")
    q.stage("a", produces="x")(body)
    q.stage("b", produces="x")(body)
    with pytest.raises(PlanError, match="produced by both 'a' and 'b'"):
        q.graph()
    r = Pipeline("r")
    r.stage("a")(body)
    r.stage("a")(body)
    with pytest.raises(PlanError, match="defined twice"):
        r.graph()


def test_plan_lists_stages_in_order_with_inputs() -> None:
    p = Pipeline("release")
    p.stage("push", consumes="image", env="TOKEN", timeout=30)(body)
    p.stage("image", files=["Dockerfile"], produces="image", cpu=True, cache=True)(body)
    text = p.plan()
    lines = text.splitlines()
    assert lines[0] == "pipeline release: 2 stages"
    assert lines[1].startswith("image [cpu, cached]")
    assert "files: Dockerfile" in lines[1]
    assert lines[2].startswith("push [timeout 30s]")
    assert "after: image" in lines[2]
    assert "env: TOKEN" in lines[2]


def test_targets_select_upstream_only() -> None:
    p = Pipeline("p")
    p.stage("build", produces="wheel")(body)
    p.stage("docs")(body)
    p.stage("image", consumes="wheel")(body)
    assert p.graph(["image"]).order == ("build", "image")
    with pytest.raises(PlanError, match="unknown stage 'nope'"):
        p.graph(["nope"])
