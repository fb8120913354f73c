"""The ``ecs`` target: a new task-definition revision pinned by digest, ``update_service``, then follow THAT deployment.

The ``services_stable`` waiter is not used on purpose: it succeeds when a circuit breaker has rolled the service
back (one deployment, running == desired). Instead the PRIMARY deployment id returned by ``update_service`` is
followed until its ``rolloutState`` is COMPLETED (success) or FAILED, it disappears (replaced by a rollback), or the
deadline passes; all but COMPLETED are failures, after which the previous task definition is put back. Previous
revisions are never deregistered, so ``rollback`` can always return to them.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard._errors import DeployError
from shipyard.deploy._aws import aws_errors, client
from shipyard.deploy._config import TABLE, Environment
from shipyard.deploy._model import Shipped
from shipyard.deploy._s3_state import S3History, S3Lock
from shipyard.deploy._secret_refs import resolve_arns

__all__ = ["EcsTarget", "Rollout"]

#: Keys of describe_task_definition's output that register_task_definition accepts back.
_REGISTRABLE = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


@dataclass(frozen=True)
class Rollout:
    """How following one deployment ended."""

    ok: bool
    deployment_id: str
    state: str
    reason: str


class EcsTarget:
    kind = "ecs"

    def __init__(
        self,
        env: Environment,
        *,
        ecs: Any | None = None,
        poll_interval: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = env
        self._ecs = ecs or client("ecs", env.region)
        self._poll = float(env.setting("poll_interval")) if poll_interval is None else poll_interval
        self._sleep, self._clock = sleep, clock
        self.cluster = str(env.setting("cluster"))
        self.service = str(env.setting("service"))

    # ------------------------------------------------------------------ reading
    def describe_service(self) -> dict[str, Any]:
        where = f"{self.env.file}: {TABLE}.{self.env.name}"
        with aws_errors(f"describing ECS service {self.service} in cluster {self.cluster}"):
            try:
                response = self._ecs.describe_services(cluster=self.cluster, services=[self.service])
            except Exception as exc:
                if type(exc).__name__ == "ClusterNotFoundException":
                    raise DeployError(
                        f"ECS cluster {self.cluster!r} not found; fix {where}.cluster or create the cluster"
                    ) from exc
                raise
        services = [s for s in response.get("services", []) if s.get("status") == "ACTIVE"]
        if not services:
            raise DeployError(
                f"ECS service {self.service!r} not found in cluster {self.cluster!r}; fix {where}.service"
            )
        return dict(services[0])

    def task_definition(self, arn: str) -> dict[str, Any]:
        with aws_errors(f"describing task definition {arn}"):
            return dict(self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])

    # ------------------------------------------------------------------ rendering
    def render(self, current: Mapping[str, Any], image: str, labels: Mapping[str, str]) -> dict[str, Any]:
        """The register_task_definition input for the next revision: ``current`` with the new image and config."""
        if "@sha256:" not in image:
            raise DeployError(f"ECS deploys pin images by digest; got {image!r}, expected repo@sha256:...")
        spec = {key: json.loads(json.dumps(current[key], default=str)) for key in _REGISTRABLE if key in current}
        containers = spec.get("containerDefinitions") or []
        wanted = str(self.env.setting("container") or "")
        matches = [c for c in containers if not wanted or c.get("name") == wanted]
        if not matches:
            names = ", ".join(c.get("name", "?") for c in containers)
            raise DeployError(
                f"container {wanted!r} not in task definition {current.get('family')} (has: {names}); "
                f"fix {self.env.file}: {TABLE}.{self.env.name}.container"
            )
        container = matches[0]
        container["image"] = image
        environment = {e["name"]: e["value"] for e in container.get("environment", [])}
        environment.update(self.env.env)
        container["environment"] = [{"name": k, "value": v} for k, v in sorted(environment.items())]
        secrets = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}
        secrets.update(resolve_arns(self.env.secrets, self.env.region))
        if secrets:
            container["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())]
        container["dockerLabels"] = {**container.get("dockerLabels", {}), **labels}
        return spec

    @staticmethod
    def diff(current: Mapping[str, Any], rendered: Mapping[str, Any]) -> str:
        before = {key: current[key] for key in _REGISTRABLE if key in current}
        a = json.dumps(before, indent=2, sort_keys=True, default=str).splitlines()
        b = json.dumps(rendered, indent=2, sort_keys=True, default=str).splitlines()
        name = f"{current.get('family')}:{current.get('revision')}"
        return "\n".join(difflib.unified_diff(a, b, name, f"{current.get('family')}:next", lineterm=""))

    # ------------------------------------------------------------------ changing
    def register(self, spec: Mapping[str, Any]) -> str:
        with aws_errors(f"registering a task definition for {spec.get('family')}"):
            return str(self._ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"])

    def update(self, task_definition_arn: str) -> str:
        """Point the service at ``task_definition_arn``; return the id of the deployment that starts."""
        with aws_errors(f"updating ECS service {self.service}"):
            response = self._ecs.update_service(
                cluster=self.cluster,
                service=self.service,
                taskDefinition=task_definition_arn,
                forceNewDeployment=True,
            )
        primary = [d for d in response["service"].get("deployments", []) if d.get("status") == "PRIMARY"]
        if not primary:
            raise DeployError(f"ECS service {self.service} reported no PRIMARY deployment after update_service")
        return str(primary[0]["id"])

    def follow(self, deployment_id: str, timeout: float) -> Rollout:
        """Poll the service until deployment ``deployment_id`` completes, fails, vanishes, or time runs out."""
        deadline = self._clock() + timeout
        state = "UNKNOWN"
        while True:
            deployments = {d["id"]: d for d in self.describe_service().get("deployments", [])}
            current = deployments.get(deployment_id)
            if current is None:
                return Rollout(False, deployment_id, "REPLACED", "deployment replaced (circuit-breaker rollback?)")
            state = str(current.get("rolloutState", "IN_PROGRESS"))
            reason = str(current.get("rolloutStateReason", ""))
            if state == "COMPLETED":
                return Rollout(True, deployment_id, state, reason)
            if state == "FAILED":
                return Rollout(False, deployment_id, state, reason or "deployment failed")
            if self._clock() >= deadline:
                return Rollout(
                    False, deployment_id, "TIMEOUT", f"rollout still {state} after {timeout:.0f} s (timeout)"
                )
            self._sleep(min(self._poll, max(deadline - self._clock(), 0.0)))

    # ------------------------------------------------------------------ the Target protocol
    def _s3(self) -> Any:
        return client("s3", self.env.region)

    def lock(self) -> S3Lock:
        return S3Lock(self._s3(), str(self.env.setting("history_bucket")), self.env.name, self.env.lock_ttl)

    def history(self) -> S3History:
        return S3History(self._s3(), str(self.env.setting("history_bucket")), self.env.name)

    def _container(self, task_definition: Mapping[str, Any]) -> dict[str, Any]:
        wanted = str(self.env.setting("container") or "")
        containers = task_definition.get("containerDefinitions") or [{}]
        return dict(next((c for c in containers if not wanted or c.get("name") == wanted), containers[0]))

    def status(self) -> dict[str, Any]:
        service = self.describe_service()
        arn = str(service.get("taskDefinition", ""))
        image = str(self._container(self.task_definition(arn)).get("image", "")) if arn else ""
        return {
            "env": self.env.name,
            "target": self.kind,
            "cluster": self.cluster,
            "service": self.service,
            "task_definition": arn,
            "image": image,
            "running": service.get("runningCount", 0),
            "desired": service.get("desiredCount", 0),
            "deployments": [
                {k: d.get(k) for k in ("id", "status", "rolloutState", "taskDefinition")}
                for d in service.get("deployments", [])
            ],
        }

    def ship(self, image: str, deploy_id: str, *, dry_run: bool = False, revision: str = "") -> Shipped:
        service = self.describe_service()
        previous_arn = str(service["taskDefinition"])
        current = self.task_definition(previous_arn)
        previous_image = str(self._container(current).get("image", ""))
        if revision:  # a rollback: the old revision is still registered, reuse it as is
            target_arn = revision
            if dry_run:
                return Shipped(True, previous_image=previous_image, details={"task_definition": revision})
        else:
            labels = {"shipyard.env": self.env.name, "shipyard.image": image, "shipyard.deploy-id": deploy_id}
            spec = self.render(current, image, labels)
            if dry_run:
                return Shipped(True, previous_image=previous_image, details={"diff": self.diff(current, spec)})
            target_arn = self.register(spec)
        deployment_id = self.update(target_arn)
        rollout = self.follow(deployment_id, self.env.timeout)
        details = {
            "deployment_id": deployment_id,
            "rollout_state": rollout.state,
            "task_definition": target_arn,
            "previous_task_definition": previous_arn,
        }
        if rollout.ok:
            return Shipped(True, previous_image=previous_image, revision=target_arn, details=details)
        restored = f"restored {previous_arn}"
        try:
            self.update(previous_arn)
        except DeployError as exc:
            restored = f"could NOT restore {previous_arn}: {exc}"
        reason = f"ECS deployment {deployment_id} {rollout.state}: {rollout.reason}; {restored}"
        return Shipped(False, reason, previous_image=previous_image, revision=target_arn, details=details)
