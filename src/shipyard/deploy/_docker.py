"""The ``docker`` target: start the new container beside the old one, prove it healthy, then retire the old one.

Both containers use host networking. The service listens on the environment's stable port with SO_REUSEPORT, so
old and new share it during the swap, and on a ``HEALTH_PORT`` of the new container's own, so the health check
can only be answered by the NEW container. Once it is healthy the old one gets SIGTERM and drains (uvicorn
finishes in-flight requests); if it never turns healthy it is removed and the old one keeps serving.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from shipyard._errors import DeployError
from shipyard._logging import get_logger
from shipyard._secrets import redact
from shipyard.deploy._config import Environment
from shipyard.deploy._docker_state import DockerHistory, DockerLock
from shipyard.deploy._health import probe, wait_healthy
from shipyard.deploy._model import Progress, Shipped
from shipyard.deploy._secret_refs import resolve_values

__all__ = ["DockerTarget", "docker_client"]

log = get_logger("shipyard.deploy.docker")
LOG_TAIL = 20


def docker_client(host: str = "") -> Any:
    """A docker-py client for ``host`` (or ``DOCKER_HOST``, or the local socket), checked with a ping."""
    import docker
    import docker.errors

    where = host or os.environ.get("DOCKER_HOST") or "the local socket"
    try:
        client = (
            docker.DockerClient(base_url=host, timeout=120, use_ssh_client=host.startswith("ssh://"))
            if host
            else docker.from_env(timeout=120)
        )
        client.ping()
    except docker.errors.DockerException as exc:
        raise DeployError(
            f"cannot reach the Docker engine at {where} ({type(exc).__name__}); start it or fix DOCKER_HOST"
        ) from exc
    return client


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host if host not in {"", "0.0.0.0"} else "127.0.0.1", 0))  # noqa: S104
        return int(sock.getsockname()[1])


class DockerTarget:
    kind = "docker"

    def __init__(self, env: Environment, *, client: Any | None = None) -> None:
        self.env = env
        self.client = client or docker_client(str(env.setting("docker_host")))
        self.host = str(env.setting("host"))
        self.port = int(env.setting("port"))
        self.prefix = str(env.setting("container") or f"shipyard-{env.name}")

    def lock(self) -> DockerLock:
        return DockerLock(self.client, self.env.name, self.env.lock_ttl, self.env.lock_heartbeat)

    def history(self) -> DockerHistory:
        return DockerHistory(self.client, self.env.name)

    def running(self) -> list[Any]:
        """This environment's service containers that are running, oldest first."""
        found = self.client.containers.list(
            filters={"label": [f"shipyard.env={self.env.name}", "shipyard.role=service"]}
        )
        return sorted(found, key=lambda c: c.attrs.get("Created", ""))

    def _resolve(self, image: str) -> tuple[Any, str]:
        """The local image for ``image`` (pulled if missing) and its digest (repo digest, else image id)."""
        import docker.errors

        try:
            found = self.client.images.get(image)
        except docker.errors.ImageNotFound:
            try:
                found = self.client.images.pull(image)
            except docker.errors.APIError as exc:
                raise DeployError(
                    f"image {image} is not on the Docker host and cannot be pulled: {exc.explanation}"
                ) from exc
        digests = found.attrs.get("RepoDigests") or []
        digest = image.partition("@")[2] or (digests[0].partition("@")[2] if digests else found.id)
        return found, str(digest)

    def status(self) -> dict[str, Any]:
        containers = self.running()
        serving, answer = probe(f"http://{self.host}:{self.port}{self.env.health_path}")
        return {
            "env": self.env.name,
            "target": self.kind,
            "address": f"http://{self.host}:{self.port}",
            "healthy": serving,
            "health": answer,
            "containers": [
                {
                    "name": c.name,
                    "image": c.labels.get("shipyard.image", ""),
                    "digest": c.labels.get("shipyard.digest", ""),
                    "deploy_id": c.labels.get("shipyard.deploy-id", ""),
                    "status": c.status,
                }
                for c in containers
            ],
            "image": containers[-1].labels.get("shipyard.image", "") if containers else "",
        }

    def recover(self, deploy_id: str, phases: list[dict[str, Any]]) -> str:
        """Remove the containers of a deploy that died before it replaced the old version."""
        if any(p.get("phase") == "switched" for p in phases):
            return "it had replaced the previous version already; its container kept"
        found = self.client.containers.list(all=True, filters={"label": f"shipyard.deploy-id={deploy_id}"})
        for container in found:
            container.remove(force=True)
        return f"removed its container {', '.join(c.name for c in found)}" if found else "it left no container"

    def ship(
        self, image: str, deploy_id: str, *, progress: Progress, dry_run: bool = False, revision: str = ""
    ) -> Shipped:
        import docker.errors

        old = self.running()
        previous = old[-1].labels.get("shipyard.image", "") if old else ""
        found, digest = self._resolve(image)
        if dry_run:
            return Shipped(True, previous_image=previous, details={"digest": digest, "replaces": [c.name for c in old]})
        secrets = resolve_values(self.env.secrets, self.env.region)
        health_port = _free_port(self.host)
        environment = {
            **self.env.env,
            **secrets,
            "HOST": self.host,
            "PORT": str(self.port),
            "HEALTH_PORT": str(health_port),
            "SHIPYARD_DEPLOY_ID": deploy_id,
        }
        labels = {  # never secrets: labels are readable by anyone who can `docker inspect`
            "shipyard.env": self.env.name,
            "shipyard.role": "service",
            "shipyard.image": image,
            "shipyard.digest": digest,
            "shipyard.deploy-id": deploy_id,
            "shipyard.health-port": str(health_port),
        }
        name = f"{self.prefix}-{deploy_id}"
        progress.phase("starting", container=name)
        try:
            new = self.client.containers.run(
                found.id,
                name=name,
                detach=True,
                network_mode="host",
                environment=environment,
                labels=labels,
                restart_policy={"Name": "unless-stopped"},
                stop_signal="SIGTERM",
            )
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot start {name}: {redact(str(exc.explanation))}") from exc
        log.info("docker.started", container=name, health_port=health_port, digest=digest)
        try:
            progress.phase("started")

            def exited() -> str | None:
                progress.check()
                new.reload()
                return f"container exited with {new.attrs['State'].get('ExitCode')}" if new.status == "exited" else None

            url = f"http://{self.host}:{health_port}{self.env.health_path}"
            healthy, why = wait_healthy(url, self.env.timeout, alive=exited)
            if healthy:
                progress.phase("healthy")
                # From here the new container serves beside the old one (both on the port); the old ones retire next.
                progress.phase("switched", previous=",".join(c.name for c in old))
        except BaseException:  # interrupted or broken before it took over: the unproven container goes
            new.remove(force=True)
            raise
        details = {"container": name, "digest": digest, "health_url": url}
        if not healthy:
            tail = redact(new.logs(tail=LOG_TAIL).decode(errors="replace")).rstrip()
            new.remove(force=True)
            reason = f"new container {name} never turned healthy at {url}: {why}; {previous or 'nothing'} kept serving"
            return Shipped(False, reason, previous_image=previous, details={**details, "log_tail": tail})
        for container in old:  # retire gracefully: SIGTERM, uvicorn drains, then remove
            try:
                container.stop(timeout=int(self.env.setting("stop_timeout")))
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        log.info("docker.swapped", container=name, retired=[c.name for c in old])
        return Shipped(
            True, previous_image=previous, revision=digest, details={**details, "retired": [c.name for c in old]}
        )
