"""The ``docker`` target: each version in its own container on a private port, behind the environment's HAProxy.

The app contract is the ordinary one: listen on ``$PORT`` (host networking, so ``127.0.0.1:$PORT``) and answer
``health_path`` with a 2xx. A deploy, phase by phase (each reported to ``Progress`` before its risky step):

1. ``release``: the optional ``release_command`` in a one-off container of the new image; a failure stops here.
2. ``starting``/``started``: the new container, without a restart policy so an exit shows at once.
3. ``healthy``: the proxy checks the new slot (``healthy_checks`` consecutive 2xx) while it takes no traffic;
   an exit fails the deploy within about a second with the exit code and the log tail.
4. ``switched``: new requests go to the new version (one runtime-API call); the old one only finishes its own.
5. ``baked``: for ``bake`` seconds the proxy's health verdict and 5xx counter decide; a failure switches back.
   Meanwhile the old version stands by as HAProxy's backup server: once the new one is marked down, requests
   go to the old one at once, before Shipyard's switch back.
6. ``drained``: the old version's in-flight requests finish, then it is taken out and stopped (SIGTERM).
   The last ``retain`` stopped versions are kept for a fast rollback.

Any exception before the deploy completes undoes it: traffic back on the previous version, new container removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from typing import Any

from shipyard._errors import DeployError
from shipyard._logging import get_logger
from shipyard._secrets import MIN_SECRET_LENGTH, redact, register_secret
from shipyard.deploy._config import Environment, read_env_files
from shipyard.deploy._docker_state import DockerHistory, DockerLock
from shipyard.deploy._health import wait_for
from shipyard.deploy._model import Progress, Shipped
from shipyard.deploy._proxy import SLOTS, HaproxyProxy, SlotView, other
from shipyard.deploy._secret_refs import resolve_values

__all__ = ["DockerTarget", "docker_client"]

log = get_logger("shipyard.deploy.docker")
LOG_TAIL = 20
BAKE_POLL = 0.25


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


_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")


def _missing_id(image: str, where: str) -> str:
    return (
        f"image {image} is not on the Docker host ({where}), and an image id cannot be pulled: build or load it "
        "there (`docker load`, `invoke image.build`), or push it and deploy by its registry digest "
        "(--image registry/repo@sha256:..., what `invoke image.push` prints)"
    )


def _free_port(taken: set[int]) -> int:
    """A port nothing listens on now (on this machine: a remote Docker host's ports are not visible from here)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


class _NoProgress:
    """Progress for callers that do not journal (benchmarks, older flows): phases pass, nothing interrupts."""

    def phase(self, name: str, **details: Any) -> None:
        pass

    def check(self) -> None:
        pass


class _Deploy:
    """What one ``ship()`` did so far, so the undo knows what to put back."""

    def __init__(self, found: Any, digest: str, old: Any | None, serving: SlotView | None, legacy: list[Any]) -> None:
        self.found, self.digest, self.old, self.serving, self.legacy = found, digest, old, serving, legacy
        self.previous = old.labels.get("shipyard.image", "") if old else ""
        self.new: Any | None = None
        self.everything: list[Any] = []
        self.last: SlotView | None = None  # the new slot as the health wait saw it last
        self.release: Any | None = None
        self.slot = ""
        self.switched = False
        self.done = False


class DockerTarget:
    kind = "docker"

    def __init__(self, env: Environment, *, client: Any | None = None) -> None:
        self.env = env
        self.env_files = read_env_files(env)  # a missing or bad env file fails here, before anything changes
        for value in self.env_files.values():
            # Env files carry secrets as often as not: their values are never echoed. Values too short to mask
            # (DEBUG=1, an empty one) are settings, not secrets; a real secret belongs under `secrets`, which
            # refuses a short one.
            if len(value.strip()) >= MIN_SECRET_LENGTH:
                register_secret(value, source=f"env_file of environment {env.name!r}")
        self.client = client or docker_client(str(env.setting("docker_host")))
        self.host = str(env.setting("host"))
        self.port = int(env.setting("port"))
        self.prefix = str(env.setting("container") or f"shipyard-{env.name}")
        self.proxy = HaproxyProxy(
            self.client,
            env.name,
            host=self.host,
            port=self.port,
            image=str(env.settings.get("proxy_image") or "shipyard/proxy:haproxy-bookworm"),
            health_path=env.health_path,
            rise=int(env.settings.get("healthy_checks", 3)),
        )

    def _opt(self, key: str, default: Any) -> Any:
        return self.env.settings.get(key, default)

    def lock(self) -> DockerLock:
        return DockerLock(self.client, self.env.name, self.env.lock_ttl, self.env.lock_heartbeat)

    def history(self) -> DockerHistory:
        return DockerHistory(self.client, self.env.name)

    # -- what is there ---------------------------------------------------------------------------------------

    def containers(self, *, running_only: bool = False) -> list[Any]:
        """This environment's app containers (running and retained), oldest first."""
        found = self.client.containers.list(
            all=not running_only,
            ignore_removed=True,
            filters={"label": [f"shipyard.env={self.env.name}", "shipyard.role=service"]},
        )
        return sorted(found, key=lambda c: c.attrs.get("Created", ""))

    def _by_slot(self, view: SlotView | None, candidates: list[Any]) -> Any | None:
        if view is None:
            return None
        for container in reversed(candidates):
            if container.labels.get("shipyard.slot") == view.slot and container.labels.get("shipyard.port") == str(
                view.port
            ):
                return container
        return None

    def _proxy_view(self) -> dict[str, SlotView] | None:
        container = self.proxy.container()
        if container is None or container.status != "running":
            return None
        return self.proxy.slots()

    def check_image(self, image: str) -> None:
        """Refuse an image id that is not on the Docker host, before anything changes: an id names a local image,
        and the engine would try to pull it from Docker Hub (hanging, or failing obscurely, without a network)."""
        import docker.errors

        if not _IMAGE_ID.fullmatch(image):
            return  # a registry reference (repo@sha256:...): pulled from its registry when missing
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise DeployError(_missing_id(image, self._where())) from None
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot look up image {image} on the Docker host: {exc.explanation}") from exc

    def _where(self) -> str:
        return str(self.env.setting("docker_host") or os.environ.get("DOCKER_HOST") or "the local socket")

    def _resolve(self, image: str) -> tuple[Any, str]:
        """The local image for ``image`` (pulled if missing) and its digest (repo digest, else image id)."""
        import docker.errors

        try:
            found = self.client.images.get(image)
        except docker.errors.ImageNotFound:
            if _IMAGE_ID.fullmatch(image):
                raise DeployError(_missing_id(image, self._where())) from None
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
        """The proxy's view: which version takes traffic, its health and counters; then every container."""
        containers = self.containers()
        views = self._proxy_view()
        proxy = self.proxy.container()
        serving = next((v for v in (views or {}).values() if v.mode == "serving"), None)
        current = self._by_slot(serving, containers)
        return {
            "env": self.env.name,
            "target": self.kind,
            "address": f"http://{self.host}:{self.port}",
            "proxy": {"container": self.proxy.name, "status": proxy.status if proxy else "absent"},
            "serving": current.name if current else "",
            "image": current.labels.get("shipyard.image", "") if current else "",
            "healthy": bool(serving and serving.up),
            "health": serving.check if serving else "nothing deployed",
            "requests": serving.responses if serving else 0,
            "errors_5xx": serving.errors_5xx if serving else 0,
            "slots": [v.to_dict() for v in (views or {}).values()],
            "containers": [
                {
                    "name": c.name,
                    "image": c.labels.get("shipyard.image", ""),
                    "deploy_id": c.labels.get("shipyard.deploy-id", ""),
                    "port": c.labels.get("shipyard.port", ""),
                    "status": c.status,
                    "serving": bool(current and c.id == current.id),
                }
                for c in containers
            ],
        }

    # -- a deploy --------------------------------------------------------------------------------------------

    def ship(
        self,
        image: str,
        deploy_id: str,
        *,
        progress: Progress | None = None,
        dry_run: bool = False,
        revision: str = "",
    ) -> Shipped:
        progress = progress or _NoProgress()
        found, digest = self._resolve(image)
        if not dry_run:
            self.proxy.ensure()
        everything = self.containers()
        views = self._proxy_view()
        serving = next((v for v in (views or {}).values() if v.mode == "serving"), None)
        old = self._by_slot(serving, everything)
        # running versions the proxy does not send to (an older design's, or one a crash left): stopped after the bake
        legacy = [c for c in everything if c.status == "running" and (old is None or c.id != old.id)]
        previous = old.labels.get("shipyard.image", "") if old else ""
        if dry_run:
            return Shipped(
                True,
                previous_image=previous,
                details={"digest": digest, "replaces": old.name if old else "", "proxy": self.proxy.name},
            )
        state = _Deploy(found, digest, old, serving, legacy)
        state.everything = everything
        try:
            return self._ship(image, deploy_id, progress, state)
        except BaseException as exc:
            if state.done and isinstance(exc, Exception):
                # past "stopping": the new version serves, proven; only the old one's clean-up failed
                why = f"{type(exc).__name__}: {redact(str(exc))}"[:300]
                log.error("docker.stop-old-failed", error=why)
                return Shipped(
                    True,
                    f"the new version serves; stopping the previous one failed ({why}): check `invoke status`",
                    previous_image=previous,
                    revision=digest,
                )
            self._undo(state, old, serving)
            if isinstance(exc, DeployError) or not isinstance(exc, Exception):
                raise
            raise DeployError(
                f"deploy {deploy_id} stopped ({type(exc).__name__}: {redact(str(exc))}); "
                f"{previous or 'nothing'} kept serving"
            ) from exc

    def _ship(self, image: str, deploy_id: str, progress: Progress, state: _Deploy) -> Shipped:
        found, digest, old, serving, previous = state.found, state.digest, state.old, state.serving, state.previous
        taken = {int(c.labels.get("shipyard.port", "0")) for c in state.everything} | {self.port}
        port = _free_port(taken)
        state.slot = other(serving.slot) if serving else SLOTS[0]
        name = f"{self.prefix}-{deploy_id}"
        run = self._run_options(image, digest, deploy_id, port, state.slot)
        details: dict[str, Any] = {"container": name, "digest": digest, "port": port, "proxy": self.proxy.name}

        if self._opt("release_command", []):
            progress.phase("release", container=f"{name}-release")
            failed = self._release(found.id, f"{name}-release", run, state, progress)
            if failed:
                return Shipped(False, failed[0], previous_image=previous, details={**details, "log_tail": failed[1]})

        progress.phase("starting", container=name)
        self.proxy.stage(state.slot, port)  # checked from now on (refused until it listens), no traffic
        state.new = self._start(found.id, name, run)
        progress.phase("started", container=name, port=port, slot=state.slot)
        log.info("docker.started", container=name, port=port, slot=state.slot, digest=digest)

        healthy, why = wait_for(
            lambda: self._slot_health(state.slot, state),
            float(self.env.timeout),
            alive=lambda: self._exited(state.new),
            check=progress.check,
            interval=0.02,  # each poll is a round trip to the proxy already
        )
        if not healthy:
            tail = self._tail(state.new)
            self._undo(state, old, serving)
            reason = (
                f"new container {name} never turned healthy on 127.0.0.1:{port}{self.env.health_path} "
                f"(the app must listen on $PORT and answer {self.env.health_path} with a 2xx): {why}; "
                f"{previous or 'nothing'} kept serving"
            )
            return Shipped(False, reason, previous_image=previous, details={**details, "log_tail": tail})
        progress.phase("healthy", container=name)

        state.new.update(restart_policy={"Name": "unless-stopped"})  # from now on it comes back after a restart
        before = state.last or self.proxy.slots()[state.slot]  # counters before the switch (it had no traffic)
        state.switched = True  # first: an interrupt inside the switch call must still switch back
        self.proxy.switch(state.slot, port=port, away=(serving.slot, serving.port) if serving else None)
        progress.phase("switched", previous=old.name if old else "", container=name, slot=state.slot)
        log.info("docker.switched", container=name, previous=old.name if old else "")

        failure = self._bake(state.slot, before, progress)
        if failure:
            tail = self._tail(state.new)
            self._undo(state, old, serving)
            reason = f"rolled back: {name} {failure} within the {self._opt('bake', 3):g} s bake; "
            reason += f"{previous or 'nothing'} serving again"
            progress.phase("rolled-back", reason=reason)
            return Shipped(
                False, reason, previous_image=previous, details={**details, "rolled_back": True, "log_tail": tail}
            )
        progress.phase("baked", container=name)

        stopped = self._drain(old, serving, progress, state) + self._stop(state.legacy)
        state.done = True
        progress.phase("drained", previous=old.name if old else "")  # past "stopping": a signal no longer stops it
        removed = self._prune(keep=state.new)
        log.info("docker.deployed", container=name, stopped=stopped, removed=removed)
        return Shipped(
            True, previous_image=previous, revision=digest, details={**details, "stopped": stopped, "removed": removed}
        )

    def _run_options(self, image: str, digest: str, deploy_id: str, port: int, slot: str) -> dict[str, Any]:
        secrets = resolve_values(self.env.secrets, self.env.region)
        environment = {**self.env_files, **self.env.env, **secrets, "PORT": str(port)}
        labels = {  # never secrets: labels are readable by anyone who can `docker inspect`
            "shipyard.env": self.env.name,
            "shipyard.role": "service",
            "shipyard.image": image,
            "shipyard.digest": digest,
            "shipyard.deploy-id": deploy_id,
            "shipyard.port": str(port),
            "shipyard.slot": slot,
        }
        volumes = {}
        for source, path, mode in self._opt("volumes", []):
            volumes[source if source.startswith("/") else self._volume(source)] = {"bind": path, "mode": mode}
        options: dict[str, Any] = {
            "network_mode": "host",
            "environment": environment,
            "labels": labels,
            "volumes": volumes,
            "stop_signal": "SIGTERM",
        }
        if self._opt("memory", ""):
            options["mem_limit"] = self._opt("memory", "")
        if self._opt("cpus", 0):
            options["nano_cpus"] = int(float(self._opt("cpus", 0)) * 1e9)
        if self._opt("pids_limit", 0):
            options["pids_limit"] = int(self._opt("pids_limit", 0))
        return options

    def _volume(self, name: str) -> str:
        """The named volume ``<prefix>-<name>`` (one per environment, so staging never shares production's data)."""
        import docker.errors

        full = f"{self.prefix}-{name}"
        try:
            self.client.volumes.get(full)
        except docker.errors.NotFound:
            self.client.volumes.create(full, labels={"shipyard.env": self.env.name, "shipyard.volume": name})
        return full

    def _start(self, image_id: str, name: str, run: dict[str, Any]) -> Any:
        import docker.errors

        command = self._opt("command", []) or None
        try:
            return self.client.containers.run(image_id, command=command, name=name, detach=True, **run)
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot start {name}: {redact(str(exc.explanation))}") from exc

    def _release(
        self, image_id: str, name: str, run: dict[str, Any], state: _Deploy, progress: Progress
    ) -> tuple[str, str] | None:
        """Run ``release_command`` to its end; (why, log tail) when it failed."""
        import docker.errors

        command = self._opt("release_command", [])
        labels = {**run["labels"], "shipyard.role": "release"}
        try:
            state.release = self.client.containers.run(
                image_id, command=command, name=name, detach=True, **{**run, "labels": labels}
            )
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot start the release command {name}: {redact(str(exc.explanation))}") from exc
        deadline = time.monotonic() + float(self.env.timeout)
        while self._exited(state.release) is None:
            progress.check()
            if time.monotonic() > deadline:
                tail = self._tail(state.release)
                return f"release_command {command} did not finish within {self.env.timeout:g} s; nothing changed", tail
            time.sleep(0.1)
        code = state.release.attrs["State"].get("ExitCode")
        tail = self._tail(state.release)
        with contextlib.suppress(docker.errors.NotFound):
            state.release.remove(force=True)
        state.release = None
        if code != 0:
            return f"release_command {command} exited with {code}; traffic untouched, nothing deployed", tail
        return None

    def _exited(self, container: Any) -> str | None:
        import docker.errors

        try:
            container.reload()
        except docker.errors.NotFound:
            return "container disappeared"
        info = container.attrs["State"]
        if container.status in {"exited", "dead"} or info.get("Restarting"):
            return f"container exited with code {info.get('ExitCode')}"
        return None

    def _tail(self, container: Any) -> str:
        with contextlib.suppress(Exception):
            return redact(container.logs(tail=LOG_TAIL).decode(errors="replace")).rstrip()
        return ""

    def _slot_health(self, slot: str, state: _Deploy | None = None) -> tuple[bool, str]:
        view = self.proxy.slots()[slot]
        if state is not None:
            state.last = view
        return view.up, view.check

    def _bake(self, slot: str, before: SlotView, progress: Progress) -> str | None:
        """Watch the new version for ``bake`` seconds through the proxy; why it failed, or None."""
        deadline = time.monotonic() + float(self._opt("bake", 3))
        ratio = float(self._opt("bake_max_5xx", 0.01))
        while True:
            progress.check()
            view = self.proxy.slots()[slot]
            answered = view.responses - before.responses
            errors = view.errors_5xx - before.errors_5xx
            if errors and errors > ratio * answered:
                return f"answered {errors} of {answered} requests with a 5xx"
            if view.mode != "serving":
                return f"was no longer taking traffic in the proxy (slot {slot} in {view.mode})"
            if not view.up:
                return f"failed its health check ({view.check})"
            if time.monotonic() >= deadline:
                return None
            time.sleep(BAKE_POLL)

    def _drain(self, old: Any | None, serving: SlotView | None, progress: Progress, state: _Deploy) -> list[str]:
        """Let the old version finish its in-flight requests (up to ``drain_timeout``), take it out, stop it."""
        # The point of no return: from "stopping" on, the old version is taken out and stopped, so a signal
        # no longer undoes the (proven) deploy; the flow records what serves: succeeded, with the signal noted.
        if old is None or serving is None:
            progress.check()
            progress.phase("stopping", previous="")
            state.done = True
            return []
        self.proxy.unback(serving.slot)  # proven: the old version is no longer the stand-by for new requests
        deadline = time.monotonic() + float(self._opt("drain_timeout", 30))
        while self.proxy.slots()[serving.slot].current > 0 and time.monotonic() < deadline:
            progress.check()
            time.sleep(0.1)
        progress.check()  # the last point where a signal puts the old version back in front
        progress.phase("stopping", previous=old.name)
        state.done = True
        self.proxy.retire(serving.slot)  # no requests, no checks; its idle keep-alive connections are dropped
        return self._stop([old])

    def _stop(self, containers: list[Any]) -> list[str]:
        import docker.errors

        stopped = []
        for container in containers:
            with contextlib.suppress(docker.errors.NotFound):
                container.stop(timeout=int(self.env.setting("stop_timeout")))  # SIGTERM, then SIGKILL
                stopped.append(container.name)
        return stopped

    def _prune(self, *, keep: Any) -> list[str]:
        """Remove stopped versions beyond the newest ``retain``."""
        import docker.errors

        stopped = [c for c in self.containers() if c.status != "running" and c.id != keep.id]
        extra = stopped[: max(0, len(stopped) - int(self._opt("retain", 3)))]
        removed = []
        for container in extra:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
                removed.append(container.name)
        return removed

    def _undo(self, state: _Deploy, old: Any | None, serving: SlotView | None) -> None:
        """Put the previous version back in front and remove the unproven new one (idempotent, never raises)."""
        if state.done:
            return
        with contextlib.suppress(Exception):
            if state.release is not None:
                state.release.remove(force=True)
                state.release = None
        if state.slot:
            try:  # idempotent: the old slot takes traffic again (it may never have stopped), the new one is out
                if serving is not None and old is not None:
                    self.proxy.switch(serving.slot, port=serving.port, away=(state.slot, 0), standby=False)
                self.proxy.retire(state.slot)
                if serving is None and state.switched:
                    self.proxy.persist({})
                state.switched = False
            except Exception as exc:  # noqa: BLE001 - the undo must go on to remove the container
                log.error("docker.undo-switch-failed", error=redact(str(exc)))
        if state.new is not None:
            with contextlib.suppress(Exception):
                state.new.remove(force=True)
            state.new = None

    # -- after a crash, and the end of an environment --------------------------------------------------------

    def recover(self, deploy_id: str, phases: list[dict[str, Any]]) -> str:
        """Clean up after deploy ``deploy_id`` that was killed: keep it only if it took traffic and was proven."""
        import docker.errors

        reached = {p.get("phase") for p in phases}
        mine = [c for c in self.containers() if c.labels.get("shipyard.deploy-id") == deploy_id]
        release = self.client.containers.list(
            all=True,
            ignore_removed=True,
            filters={"label": [f"shipyard.env={self.env.name}", f"shipyard.deploy-id={deploy_id}"]},
        )
        for container in release:
            if container.labels.get("shipyard.role") == "release":
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
        views = self._proxy_view() or {}
        serving = next((v for v in views.values() if v.mode == "serving"), None)
        current = self._by_slot(serving, self.containers())
        new = mine[-1] if mine else None
        if new is None:
            return f"deploy {deploy_id} left no container; nothing to clean up"
        if current is not None and current.id == new.id:
            if "baked" in reached:
                prev = [c for c in self.containers(running_only=True) if c.id != new.id]
                for view in views.values():
                    if view.mode != "serving":
                        self.proxy.retire(view.slot)
                stopped = self._stop(prev)
                return f"kept {new.name} (proven before the deploy died); stopped {', '.join(stopped) or 'nothing'}"
            previous = next((p.get("previous") for p in phases if p.get("phase") == "switched"), "") or ""
            drained = next((v for v in views.values() if v.mode == "drain"), None)
            back = next((c for c in self.containers() if c.name == previous), None) or self._by_slot(
                drained, self.containers()
            )
            if back is None:
                self.proxy.retire(new.labels.get("shipyard.slot", "a"))
                self.proxy.persist({})
                new.remove(force=True)
                return f"removed unproven {new.name}; no previous version to put back, nothing serving"
            if back.status != "running":
                back.start()
            slot = back.labels["shipyard.slot"]
            self.proxy.stage(slot, int(back.labels["shipyard.port"]))
            ok, why = wait_for(
                lambda: self._slot_health(slot), float(self.env.timeout), alive=lambda: self._exited(back)
            )
            if not ok:
                return f"left {new.name} serving: the previous version {back.name} did not turn healthy ({why})"
            away = (new.labels.get("shipyard.slot", "a"), int(new.labels.get("shipyard.port", "0")))
            self.proxy.switch(slot, port=int(back.labels["shipyard.port"]), away=away, standby=False)
            self.proxy.retire(new.labels.get("shipyard.slot", "a"))
            new.remove(force=True)
            return f"switched traffic back to {back.name} and removed unproven {new.name}"
        with contextlib.suppress(docker.errors.NotFound):
            new.remove(force=True)
        for view in views.values():
            if view.mode == "drain" and (current is None or view.slot != current.labels.get("shipyard.slot")):
                self.proxy.retire(view.slot)
        return f"removed {new.name}, which never took traffic; {current.name if current else 'nothing'} serving"

    def down(self, *, volumes: bool = False) -> dict[str, Any]:
        """Stop and remove the environment: proxy, app containers, retained versions; its volumes only if asked.
        The deploy history stays (it is the record of what happened)."""
        import docker.errors

        removed = [c.name for c in self.containers()]
        proxy = self.proxy.remove()
        found = self.client.containers.list(
            all=True, ignore_removed=True, filters={"label": f"shipyard.env={self.env.name}"}
        )
        for container in found:
            if container.labels.get("shipyard.role") in {"service", "release", "proxy"}:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
        gone: list[str] = []
        if volumes:
            for volume in self.client.volumes.list(filters={"label": f"shipyard.env={self.env.name}"}):
                volume.remove(force=True)
                gone.append(volume.name)
        return {"env": self.env.name, "containers": removed, "proxy": self.proxy.name if proxy else "", "volumes": gone}
