"""The deploy flow's commands on the ECS target against a real moto server (fast: no containers): rollback one
step further back each time, ``--to`` a deploy id or an image, and a corrupt S3 lock or journal object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import assert_clean_failure
from .test_ecs import Ecs, ecs_ok

__all__ = ["ecs_ok"]

pytestmark = [pytest.mark.aws]


def digest(char: str) -> str:
    return "sha256:" + char * 64


def run(ecs: Ecs, *args: str) -> dict[str, Any]:
    proc = ecs.project.invoke(*args, "--env", "stg", "--json")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def serving(ecs: Ecs) -> str:
    arn = ecs.service_td()
    return str(
        ecs.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][0]["image"]
    )


def test_rollback_steps_back_one_deploy_each_time_and_to_any_earlier_one(ecs_ok: Ecs) -> None:
    images = {c: f"{ecs_ok.repo}@{digest(c)}" for c in "bcde"}
    ids = {c: run(ecs_ok, "deploy", "--image", images[c])["deploy_id"] for c in "bcd"}
    assert serving(ecs_ok) == images["d"]
    assert run(ecs_ok, "rollback")["image"] == images["c"]
    assert serving(ecs_ok) == images["c"]
    assert run(ecs_ok, "rollback")["image"] == images["b"]  # further back, not back to d
    assert serving(ecs_ok) == images["b"]
    proc = ecs_ok.project.invoke("rollback", "--env", "stg")
    assert_clean_failure(proc, "no earlier successful deploy")
    assert serving(ecs_ok) == images["b"]

    assert run(ecs_ok, "rollback", "--to", ids["d"])["image"] == images["d"]  # by deploy id
    assert serving(ecs_ok) == images["d"]
    assert run(ecs_ok, "rollback", "--to", images["c"])["image"] == images["c"]  # by image
    run(ecs_ok, "deploy", "--image", images["e"])
    assert run(ecs_ok, "rollback")["image"] == images["c"]  # what served before e
    assert_clean_failure(ecs_ok.project.invoke("rollback", "--env", "stg", "--to", "nope"), "'nope'", "history")

    records = json.loads(ecs_ok.project.invoke("history", "--env", "stg", "--json").stdout)
    assert [(r["action"], r["image"][-1], r["result"]) for r in records] == [
        ("deploy", "b", "succeeded"),
        ("deploy", "c", "succeeded"),
        ("deploy", "d", "succeeded"),
        ("rollback", "c", "succeeded"),
        ("rollback", "b", "succeeded"),
        ("rollback", "d", "succeeded"),
        ("rollback", "c", "succeeded"),
        ("deploy", "e", "succeeded"),
        ("rollback", "c", "succeeded"),
    ]
    assert records[3]["rollback_to"] == ids["c"]


def test_a_corrupt_s3_lock_and_journal_object_are_named_and_skipped(ecs_ok: Ecs) -> None:
    image = f"{ecs_ok.repo}@{digest('b')}"
    run(ecs_ok, "deploy", "--image", image)
    ecs_ok.s3.put_object(Bucket=ecs_ok.bucket, Key="shipyard/journal/stg/00000000000000000001-x-start.json", Body=b"{")
    ecs_ok.s3.put_object(Bucket=ecs_ok.bucket, Key="shipyard/locks/stg.json", Body=b"not json")
    proc = ecs_ok.project.invoke("deploy", "--env", "stg", "--image", image)
    assert_clean_failure(proc, "shipyard/locks/stg.json", "unreadable", "invoke unlock")
    hist = ecs_ok.project.invoke("history", "--env", "stg", "--json")
    assert hist.returncode == 0, hist.stderr
    assert [r["image"] for r in json.loads(hist.stdout)] == [image]
    assert "00000000000000000001-x-start.json is corrupt" in hist.stderr
    done = ecs_ok.project.invoke("unlock", "--env", "stg", "--reason", "garbage lock")
    assert done.returncode == 0, done.stderr
    run(ecs_ok, "deploy", "--image", image)
    records = json.loads(ecs_ok.project.invoke("history", "--env", "stg", "--json").stdout)
    assert [(r["action"], r["result"]) for r in records] == [
        ("deploy", "succeeded"),
        ("unlock", "unlocked"),
        ("deploy", "succeeded"),
    ]
