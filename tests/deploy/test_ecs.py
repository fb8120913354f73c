"""The ecs target against a real moto server over HTTP, driven through the `invoke` CLI in a subprocess.

Moto behaviour these tests rely on (moto 5.x, ``moto/ecs/models.py``):
- ``create_service`` gives the service one PRIMARY deployment whose ``rolloutState`` is COMPLETED when the
  ``MOTO_ECS_SERVICE_RUNNING`` environment variable (read by the server, i.e. this test process, at
  ``create_service`` time) is >= desiredCount, and IN_PROGRESS otherwise. It never changes afterwards.
- ``update_service(forceNewDeployment=True)`` gives that deployment a new id and keeps its rolloutState; it never
  creates a second deployment nor reports FAILED by itself. So a FAILED rollout (a circuit-breaker rollback) is
  staged by editing the server's in-process backend, as the real ECS API would report it (see
  ``circuit_breaker``); a rollout that never completes uses MOTO_ECS_SERVICE_RUNNING=0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.testing import MotoServer

from .conftest import Project, assert_clean_failure, unique

pytestmark = [pytest.mark.aws]

DIGEST = "sha256:" + "a" * 64
NEW_DIGEST = "sha256:" + "b" * 64
SECRET = "s3cr3t-token-value-42"


class Ecs:
    def __init__(self, moto: MotoServer, project: Project, monkeypatch: pytest.MonkeyPatch, running: int) -> None:
        self.moto = moto
        self.ecs: Any = moto.client("ecs")
        self.s3: Any = moto.client("s3")
        self.cluster, self.service, self.family = unique("cl"), unique("svc"), unique("fam")
        self.bucket = unique("deploys")
        self.repo = f"127.0.0.1:5000/{unique('app')}"
        self.param = f"/{unique('p')}/token"
        self.ecs.create_cluster(clusterName=self.cluster)
        self.s3.create_bucket(Bucket=self.bucket)
        moto.client("ssm").put_parameter(Name=self.param, Value=SECRET, Type="SecureString")  # type: ignore[attr-defined]
        td = self.ecs.register_task_definition(
            family=self.family,
            containerDefinitions=[
                {
                    "name": "web",
                    "image": f"{self.repo}@{DIGEST}",
                    "memory": 128,
                    "environment": [{"name": "KEEP", "value": "1"}],
                }
            ],
        )["taskDefinition"]
        self.first_arn = td["taskDefinitionArn"]
        monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))  # read by moto at create_service time
        self.ecs.create_service(
            cluster=self.cluster, serviceName=self.service, taskDefinition=self.first_arn, desiredCount=1
        )
        monkeypatch.delenv("MOTO_ECS_SERVICE_RUNNING")
        self.project = project
        project.env.update(moto.env)
        project.write(
            {
                "stg": {
                    "target": "ecs",
                    "image": "app",
                    "cluster": self.cluster,
                    "service": self.service,
                    "container": "web",
                    "history_bucket": self.bucket,
                    "timeout": 3,
                    "poll_interval": 0.2,
                    "env": {"GREETING": "hi"},
                    "secrets": {"TOKEN": f"ssm:{self.param}"},
                }
            }
        )

    def service_td(self) -> str:
        svc = self.ecs.describe_services(cluster=self.cluster, services=[self.service])["services"][0]
        return str(svc["taskDefinition"])

    def revisions(self) -> list[str]:
        return list(self.ecs.list_task_definitions(familyPrefix=self.family)["taskDefinitionArns"])

    def history_keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]


@pytest.fixture
def ecs_ok(moto: MotoServer, project: Project, monkeypatch: pytest.MonkeyPatch) -> Ecs:
    return Ecs(moto, project, monkeypatch, running=1)


@pytest.fixture
def ecs_stuck(moto: MotoServer, project: Project, monkeypatch: pytest.MonkeyPatch) -> Ecs:
    return Ecs(moto, project, monkeypatch, running=0)


def test_deploy_registers_a_revision_pinned_by_digest_and_keeps_the_previous(ecs_ok: Ecs) -> None:
    image = f"{ecs_ok.repo}@{NEW_DIGEST}"
    proc = ecs_ok.project.invoke("deploy", "--env", "stg", "--image", image, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    assert result["details"]["rollout_state"] == "COMPLETED"
    new_arn = ecs_ok.service_td()
    assert new_arn != ecs_ok.first_arn
    assert new_arn == result["revision"]
    assert ecs_ok.first_arn in ecs_ok.revisions()  # previous revision never deregistered
    td = ecs_ok.ecs.describe_task_definition(taskDefinition=new_arn)["taskDefinition"]
    web = td["containerDefinitions"][0]
    assert web["image"] == image
    assert {"name": "GREETING", "value": "hi"} in web["environment"]
    assert {"name": "KEEP", "value": "1"} in web["environment"]
    # secrets as valueFrom ARNs: ECS reads them, the task definition never holds the value
    assert web["secrets"] == [
        {"name": "TOKEN", "valueFrom": f"arn:aws:ssm:us-east-1:123456789012:parameter{ecs_ok.param}"}
    ]
    assert SECRET not in json.dumps(td) + proc.stdout + proc.stderr
    # history in S3, and the lock released
    keys = ecs_ok.history_keys()
    assert [k for k in keys if k.startswith("shipyard/journal/stg/")]
    assert not [k for k in keys if "locks" in k]
    hist = ecs_ok.project.invoke("history", "--env", "stg", "--json")
    records = json.loads(hist.stdout)
    assert [(r["image"], r["result"]) for r in records] == [(image, "succeeded")]
    status = json.loads(ecs_ok.project.invoke("status", "--env", "stg", "--json").stdout)
    assert status["image"] == image


def test_dry_run_prints_the_diff_and_changes_nothing(ecs_ok: Ecs) -> None:
    before = (ecs_ok.revisions(), ecs_ok.service_td(), ecs_ok.history_keys())
    image = f"{ecs_ok.repo}@{NEW_DIGEST}"
    proc = ecs_ok.project.invoke("deploy", "--env", "stg", "--image", image, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    diff = proc.stdout.splitlines()
    assert any(line.startswith("+") and f'"image": "{image}"' in line for line in diff), proc.stdout
    assert any(line.startswith("-") and f'"image": "{ecs_ok.repo}@{DIGEST}"' in line for line in diff)
    assert (ecs_ok.revisions(), ecs_ok.service_td(), ecs_ok.history_keys()) == before


def test_a_rollout_that_never_completes_is_a_failure_and_restores(ecs_stuck: Ecs) -> None:
    proc = ecs_stuck.project.invoke("deploy", "--env", "stg", "--image", f"{ecs_stuck.repo}@{NEW_DIGEST}", "--json")
    line = assert_clean_failure(proc, "TIMEOUT", "restored")
    assert ecs_stuck.first_arn in line
    assert ecs_stuck.service_td() == ecs_stuck.first_arn
    assert len(ecs_stuck.revisions()) == 2  # the failed revision is kept too, for the record
    assert json.loads(proc.stdout)["result"] == "failed"
    records = json.loads(ecs_stuck.project.invoke("history", "--env", "stg", "--json").stdout)
    assert records[-1]["result"] == "failed"
    assert "TIMEOUT" in records[-1]["reason"]


@pytest.fixture
def circuit_breaker(ecs_ok: Ecs) -> Iterator[Ecs]:
    """Stage what real ECS reports when the circuit breaker rolls back: our deployment FAILED, and a new PRIMARY
    deployment with the previous task definition that COMPLETES (so `services_stable` would report success)."""
    from moto.backends import get_backend

    service = get_backend("ecs")["123456789012"]["us-east-1"].services[f"{ecs_ok.cluster}:{ecs_ok.service}"]
    original = service.deployments[0]["id"]
    # Real ECS reports a fresh deployment IN_PROGRESS first; moto's forced deployment inherits this state.
    service.deployments[0]["rolloutState"] = "IN_PROGRESS"
    stop = threading.Event()

    def trip() -> None:
        while not stop.is_set():
            first = service.deployments[0]
            if first["id"] != original and first["status"] == "PRIMARY":
                rollback = {**first, "id": "ecs-svc/rollback", "taskDefinition": ecs_ok.first_arn}
                first.update(
                    status="ACTIVE",
                    rolloutState="FAILED",
                    rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
                )
                service.deployments.insert(0, rollback)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=trip, daemon=True)
    thread.start()
    yield ecs_ok
    stop.set()
    thread.join()


def test_a_circuit_breaker_rollback_is_a_failure_and_restores(circuit_breaker: Ecs) -> None:
    proc = circuit_breaker.project.invoke("deploy", "--env", "stg", "--image", f"{circuit_breaker.repo}@{NEW_DIGEST}")
    assert_clean_failure(proc, "FAILED", "circuit breaker", "restored")
    assert circuit_breaker.service_td() == circuit_breaker.first_arn


def test_missing_cluster_and_service_are_one_line_errors(ecs_ok: Ecs) -> None:
    image = f"{ecs_ok.repo}@{NEW_DIGEST}"
    ecs_ok.project.write(
        {
            "stg": {
                "target": "ecs",
                "image": "app",
                "cluster": "nope-cluster",
                "service": "x",
                "history_bucket": ecs_ok.bucket,
            }
        }
    )
    assert_clean_failure(ecs_ok.project.invoke("deploy", "--env", "stg", "--image", image), "nope-cluster", "cluster")
    ecs_ok.project.write(
        {
            "stg": {
                "target": "ecs",
                "image": "app",
                "cluster": ecs_ok.cluster,
                "service": "nope-svc",
                "history_bucket": ecs_ok.bucket,
            }
        }
    )
    assert_clean_failure(ecs_ok.project.invoke("deploy", "--env", "stg", "--image", image), "nope-svc", "service")


def test_no_aws_credentials_is_a_one_line_error(ecs_ok: Ecs) -> None:
    env = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "")
    proc = ecs_ok.project.invoke("status", "--env", "stg", env=env)
    assert_clean_failure(proc, "no AWS credentials")


def test_a_second_deploy_is_refused_while_the_lock_is_held(ecs_ok: Ecs) -> None:
    body = json.dumps({"holder": "alice@ci (deploy 42)", "since": time.time()})
    ecs_ok.s3.put_object(Bucket=ecs_ok.bucket, Key="shipyard/locks/stg.json", Body=body)
    proc = ecs_ok.project.invoke("deploy", "--env", "stg", "--image", f"{ecs_ok.repo}@{NEW_DIGEST}")
    assert_clean_failure(proc, "locked by alice@ci (deploy 42)")
    assert ecs_ok.service_td() == ecs_ok.first_arn


# ---------------------------------------------------------------------------------------------- interrupts
# Moto behaviour these rely on, besides the above: ``update_service`` sets the service's taskDefinition at once and
# reuses deployments[0] under a new id. A rollout that ECS is still working on is staged by setting that
# deployment IN_PROGRESS in the server's backend; the RESTORE (the service back on the first revision) is then
# completed by the ``slow_rollout`` thread, as ECS would once the old tasks are running again. Moto never expires a
# session token, so the expired token is injected at the botocore layer of the deployer's ECS client
# (``before-call``), and only there: S3 and the restore's fresh client reach moto as usual.


LEASE_TTL = 8


@pytest.fixture
def slow_rollout(ecs_ok: Ecs) -> Iterator[Ecs]:
    from moto.backends import get_backend

    service = get_backend("ecs")["123456789012"]["us-east-1"].services[f"{ecs_ok.cluster}:{ecs_ok.service}"]
    original = service.deployments[0]["id"]
    service.deployments[0]["rolloutState"] = "IN_PROGRESS"
    stop = threading.Event()

    def complete_the_restore() -> None:
        while not stop.is_set():
            first = service.deployments[0]
            if service.task_definition == ecs_ok.first_arn and first["id"] != original:
                first["rolloutState"] = "COMPLETED"
                return
            time.sleep(0.02)

    thread = threading.Thread(target=complete_the_restore, daemon=True)
    thread.start()
    ecs_ok.project.write(
        {
            "stg": {
                "target": "ecs",
                "image": "app",
                "cluster": ecs_ok.cluster,
                "service": ecs_ok.service,
                "container": "web",
                "history_bucket": ecs_ok.bucket,
                "timeout": 60,
                "poll_interval": 0.2,
                "lock_ttl": LEASE_TTL,
                "lock_heartbeat": 0.5,
            }
        }
    )
    yield ecs_ok
    stop.set()
    thread.join()


def journal(ecs: Ecs) -> Any:
    from shipyard.deploy._s3_state import S3History

    return S3History(ecs.s3, ecs.bucket, "stg")


def wait_updated(ecs: Ecs, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not any(p.get("phase") == "updated" for d in journal(ecs).open_deploys() for p in d.phases):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the deploy never reached update_service"
        time.sleep(0.1)


def start(ecs: Ecs, digest: str) -> subprocess.Popen[str]:
    from .conftest import INVOKE

    return subprocess.Popen(
        [INVOKE, "deploy", "--env", "stg", "--image", f"{ecs.repo}@{digest}"],
        cwd=ecs.project.root,
        env=ecs.project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_following_restores_the_previous_revision_and_records_it(slow_rollout: Ecs, signum: int) -> None:
    proc = start(slow_rollout, NEW_DIGEST)
    wait_updated(slow_rollout, proc)
    assert slow_rollout.service_td() != slow_rollout.first_arn  # the service is on the new revision now
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    name = signal.Signals(signum).name
    assert_clean_failure(subprocess.CompletedProcess([], 130, _out, err), f"interrupted by {name}", "restored")
    assert slow_rollout.service_td() == slow_rollout.first_arn
    records = json.loads(slow_rollout.project.invoke("history", "--env", "stg", "--json").stdout)
    assert [r["result"] for r in records] == ["interrupted"]
    assert f"restored {slow_rollout.first_arn}" in records[0]["reason"]
    assert "COMPLETED" in records[0]["reason"]  # the restore was followed to a stable state
    assert not [k for k in slow_rollout.history_keys() if "locks" in k]


def test_kill_9_while_following_is_restored_by_the_next_deploy(slow_rollout: Ecs) -> None:
    proc = start(slow_rollout, NEW_DIGEST)
    wait_updated(slow_rollout, proc)
    proc.kill()
    proc.communicate(timeout=30)
    new_arn = slow_rollout.service_td()
    assert new_arn != slow_rollout.first_arn  # left on the unproven revision, lock held
    refused = slow_rollout.project.invoke("deploy", "--env", "stg", "--image", f"{slow_rollout.repo}@{DIGEST}")
    assert_clean_failure(refused, "is locked by")
    from shipyard.deploy._s3_state import S3Lock

    lease = S3Lock(slow_rollout.s3, slow_rollout.bucket, "stg", LEASE_TTL)
    while (info := lease.current()) is not None and time.time() - info.renewed <= LEASE_TTL + 0.3:
        time.sleep(0.2)  # until lock_ttl has passed since the dead holder's last heartbeat
    after = slow_rollout.project.invoke("deploy", "--env", "stg", "--image", f"{slow_rollout.repo}@{DIGEST}")
    assert after.returncode == 0, after.stderr
    records = json.loads(slow_rollout.project.invoke("history", "--env", "stg", "--json").stdout)
    assert [r["result"] for r in records] == ["abandoned", "succeeded"]
    assert f"restored {slow_rollout.first_arn}" in records[0]["reason"]
    assert records[0]["phase"] == "updated"


def test_an_expired_token_while_following_restores_and_records(
    slow_rollout: Ecs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.awsrequest import AWSResponse

    from shipyard.deploy import get_environment
    from shipyard.deploy._aws import client
    from shipyard.deploy._ecs import EcsTarget
    from shipyard.deploy._flow import deploy

    for key, value in slow_rollout.moto.env.items():
        monkeypatch.setenv(key, value)
    ecs = client("ecs")
    calls = {"update": 0}

    def expire(**kwargs: Any) -> Any:
        if kwargs.get("model").name == "UpdateService":  # type: ignore[union-attr]
            calls["update"] += 1
            return None
        if calls["update"] and kwargs.get("model").name == "DescribeServices":  # type: ignore[union-attr]
            error = {
                "Code": "ExpiredTokenException",
                "Message": "The security token included in the request is expired",
            }
            return AWSResponse("", 400, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    ecs.meta.events.register("before-call.ecs", expire)
    env = get_environment("stg", slow_rollout.project.root)
    result = deploy(env, f"{slow_rollout.repo}@{NEW_DIGEST}", target=EcsTarget(env, ecs=ecs))
    assert result.result == "failed"
    assert "ExpiredTokenException" in result.reason
    assert f"restored {slow_rollout.first_arn}" in result.reason
    assert slow_rollout.service_td() == slow_rollout.first_arn
    records = json.loads(slow_rollout.project.invoke("history", "--env", "stg", "--json").stdout)
    assert [r["result"] for r in records] == ["failed"]
    assert "ExpiredTokenException" in records[0]["reason"]
    assert not [k for k in slow_rollout.history_keys() if "locks" in k]
