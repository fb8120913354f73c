"""The ``ecs`` target: a new task-definition revision pinned by digest, ``update_service``, then follow THAT deployment.

The ``services_stable`` waiter is not used on purpose: it succeeds when a circuit breaker has rolled the service
back (one deployment, running == desired). Instead the PRIMARY deployment id returned by ``update_service`` is
followed until its ``rolloutState`` is COMPLETED (success) or FAILED, it disappears (replaced by a rollback), or the
deadline passes; all but COMPLETED are failures. From ``update_service`` on, ANY failure or interrupt (an expired
token while following, SIGINT/SIGTERM via the deploy's progress) puts the previous task definition back on a
fresh client (so refreshed credentials are used) and follows that restore until it is stable or its own deadline
passes. Previous revisions are never deregistered, so ``rollback`` can always return to them.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard._errors import DeployError, DeployInterrupted
from shipyard._logging import get_logger
from shipyard.deploy._aws import aws_errors, client
from shipyard.deploy._config import TABLE, Environment
from shipyard.deploy._model import Progress, Shipped
from shipyard.deploy._s3_state import S3History, S3Lock
from shipyard.deploy._secret_refs import resolve_arns

__all__ = ["EcsTarget", "Rollout"]

log = get_logger("shipyard.deploy.ecs")
#: Longest sleep between checks for a stop request while following a rollout.
CHECK_SLICE = 0.2

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

    def follow(self, deployment_id: str, timeout: float, progress: Progress | None = None) -> Rollout:
        """Poll the service until deployment ``deployment_id`` completes, fails, vanishes, or time runs out.
        ``progress.check()`` runs between polls (at least every ``CHECK_SLICE`` s): a stop request raises."""
        deadline = self._clock() + timeout
        state = "UNKNOWN"
        while True:
            if progress is not None:
                progress.check()
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
            wake = min(self._clock() + self._poll, deadline)
            while True:
                if progress is not None:
                    progress.check()
                left = wake - self._clock()
                if left <= 0:
                    break
                self._sleep(min(left, CHECK_SLICE))

    # ------------------------------------------------------------------ the Target protocol
    def _s3(self) -> Any:
        return client("s3", self.env.region)

    def lock(self) -> S3Lock:
        bucket = str(self.env.setting("history_bucket"))
        return S3Lock(self._s3(), bucket, self.env.name, self.env.lock_ttl, self.env.lock_heartbeat)

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

    def ship(
        self, image: str, deploy_id: str, *, progress: Progress, dry_run: bool = False, revision: str = ""
    ) -> Shipped:
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
        # Journaled BEFORE update_service: a deploy killed from here on is undone by recover() from these two ARNs.
        progress.phase("updating", task_definition=target_arn, previous_task_definition=previous_arn)
        details = {"task_definition": target_arn, "previous_task_definition": previous_arn}
        try:
            deployment_id = self.update(target_arn)
            details["deployment_id"] = deployment_id
            progress.phase("updated", deployment_id=deployment_id)
            rollout = self.follow(deployment_id, self.env.timeout, progress)
            details["rollout_state"] = rollout.state
            if rollout.ok:
                progress.phase("completed", deployment_id=deployment_id)
                return Shipped(True, previous_image=previous_image, revision=target_arn, details=details)
            why = f"ECS deployment {deployment_id} {rollout.state}: {rollout.reason}"
            failure: BaseException | None = None
        except BaseException as exc:  # noqa: BLE001 - whatever stopped us after update_service, undo it
            why, failure = (str(exc) if isinstance(exc, DeployError) else f"{type(exc).__name__}: {exc}"), exc
        restored = self.restore(previous_arn)
        progress.phase("restored", reason=f"{why}; {restored}")
        reason = f"{why}; {restored}"
        if isinstance(failure, DeployInterrupted | KeyboardInterrupt):
            raise DeployInterrupted(reason) from failure
        if failure is not None and not isinstance(failure, Exception):
            raise failure
        return Shipped(False, reason, previous_image=previous_image, revision=target_arn, details=details)

    def restore(self, previous_arn: str) -> str:
        """Put ``previous_arn`` back and follow that deployment until stable; say how it went. Never raises a
        DeployError: the caller reports the original failure, with this appended."""
        self._ecs = client("ecs", self.env.region)  # fresh credentials: the old token may be what failed
        try:
            deployment_id = self.update(previous_arn)
        except DeployError as first:
            log.warning("ecs.restore-retry", error=str(first))
            self._sleep(1.0)
            try:
                deployment_id = self.update(previous_arn)
            except DeployError as exc:
                return f"could NOT restore {previous_arn}: {exc}; run `invoke rollback` once AWS answers"
        try:
            rollout = self.follow(deployment_id, self.env.timeout)
        except DeployError as exc:
            return f"restored {previous_arn} (deployment {deployment_id}; could not follow it: {exc})"
        if rollout.ok:
            return f"restored {previous_arn} (deployment {deployment_id} COMPLETED)"
        return f"restored {previous_arn} (deployment {deployment_id} {rollout.state}: {rollout.reason})"

    def recover(self, deploy_id: str, phases: list[dict[str, Any]]) -> str:
        """A deploy killed after it journaled ``updating``: put its previous task definition back if the service
        still runs its new one. Idempotent."""
        updating = [p for p in phases if p.get("phase") == "updating"]
        if not updating:
            return "it had not changed the service; nothing to undo"
        if any(p.get("phase") == "completed" for p in phases):
            return f"its rollout had completed; {updating[-1].get('task_definition')} kept"
        new, previous = str(updating[-1]["task_definition"]), str(updating[-1]["previous_task_definition"])
        now = str(self.describe_service().get("taskDefinition", ""))
        if now != new:
            return f"the service runs {now}, not its {new}; nothing to undo"
        return self.restore(previous)
