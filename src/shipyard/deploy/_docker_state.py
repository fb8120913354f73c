"""Docker environments keep their deploy lease and journal ON the Docker host, so every deployer sees them.

Both live in containers that are created and never started, from a tiny state image imported through the API
(works for a remote ``DOCKER_HOST`` too; nothing needs to be pulled):

- the lease is the container ``shipyard-lock-<env>``: the engine refuses a second container of that name, so
  creating it is an atomic test-and-set. Its labels name the holder and its lease id; the holder's heartbeat
  writes ``/heartbeat`` into it. Every later change addresses the container by its ID (unique, never reused)
  after checking its ``shipyard.lease`` label, so a deployer can only renew or delete the lease it created.
- the journal is ``/journal/<entry>.json`` inside ``shipyard-state-<env>``: one file per entry, added with
  ``put_archive`` and never rewritten. ``/history.jsonl`` (the format before the journal) is still read.
"""

from __future__ import annotations

import datetime
import io
import json
import tarfile
import time
from typing import Any

from shipyard._errors import DeployError
from shipyard.deploy._journal import Journal
from shipyard.deploy._lease import Lease, LeaseInfo

__all__ = ["DockerHistory", "DockerLock", "state_image"]

STATE_IMAGE = "shipyard/deploy-state:1"
LEGACY_HISTORY = "history.jsonl"
JOURNAL_DIR = "journal"
HEARTBEAT = "heartbeat"


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _untar(stream: Any) -> dict[str, bytes]:
    """The regular files of a ``get_archive`` stream, by their base name."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[member.name.rsplit("/", 1)[-1]] = handle.read()
    return files


def state_image(client: Any) -> str:
    """The state image (one empty file, a few hundred bytes), imported on first use."""
    import docker.errors

    try:
        client.images.get(STATE_IMAGE)
    except docker.errors.ImageNotFound:
        repository, tag = STATE_IMAGE.split(":")
        client.api.import_image_from_data(_tar(".shipyard-state", b""), repository=repository, tag=tag)
    return STATE_IMAGE


def _create(client: Any, name: str, labels: dict[str, str]) -> Any:
    return client.containers.create(
        state_image(client), command=["never-started"], name=name, labels=labels, network_mode="none"
    )


def _created(container: Any) -> float:
    """The engine's creation time of ``container`` (epoch seconds)."""
    text = str(container.attrs.get("Created", ""))
    head, _, rest = text.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    try:
        moment = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    except ValueError:
        return 0.0
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


class _Backend:
    def __init__(self, client: Any, env: str) -> None:
        self._client, self._env = client, env
        self.name = f"shipyard-lock-{env}"
        self.where = f"container {self.name}"

    def create(self, holder: str, lease: str, now: float) -> Any | None:
        import docker.errors

        labels = {
            "shipyard.lock": self._env,
            "shipyard.holder": holder,
            "shipyard.lease": lease,
            "shipyard.since": f"{now:.3f}",
        }
        try:
            return str(_create(self._client, self.name, labels).id)
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return None
            raise DeployError(f"cannot create the deploy lock {self.name}: {exc.explanation}") from exc

    def read(self) -> LeaseInfo | None:
        import docker.errors

        try:
            container = self._client.containers.get(self.name)
        except docker.errors.NotFound:
            return None
        labels = container.labels or {}
        lease = str(labels.get("shipyard.lease", ""))
        try:
            since = float(labels["shipyard.since"])
        except (KeyError, ValueError):
            created = _created(container)
            why = "its shipyard.since label is missing or not a number"
            return LeaseInfo(str(labels.get("shipyard.holder", "?")), lease, created, created, container.id, why)
        renewed = since
        try:
            beat = json.loads(_untar(container.get_archive(f"/{HEARTBEAT}")[0]).get(HEARTBEAT, b"{}"))
            if isinstance(beat, dict) and beat.get("lease") == lease:
                renewed = max(since, float(beat.get("renewed", since)))
        except docker.errors.NotFound:
            pass  # not renewed yet
        except (ValueError, TypeError, tarfile.TarError):
            pass  # a heartbeat cut short: the lease counts from its last readable renewal (or its start)
        return LeaseInfo(str(labels.get("shipyard.holder", "?")), lease, since, renewed, container.id)

    def _ours(self, token: Any, lease: str) -> Any | None:
        import docker.errors

        try:
            container = self._client.containers.get(token)
        except docker.errors.NotFound:
            return None
        return container if (container.labels or {}).get("shipyard.lease") == lease else None

    def renew(self, token: Any, lease: str, now: float) -> Any | None:
        import docker.errors

        container = self._ours(token, lease)
        if container is None:
            return None
        body = json.dumps({"lease": lease, "renewed": now}).encode()
        try:
            container.put_archive("/", _tar(HEARTBEAT, body))
        except docker.errors.NotFound:
            return None
        return token

    def delete(self, token: Any) -> bool:
        import docker.errors

        try:
            self._client.containers.get(token).remove(force=True)  # by ID: never a lease created after we looked
        except docker.errors.NotFound:
            return False
        return True


class DockerLock(Lease):
    def __init__(self, client: Any, env: str, ttl: float, heartbeat: float = 10.0) -> None:
        super().__init__(_Backend(client, env), env, ttl, heartbeat)
        self.name = f"shipyard-lock-{env}"


class DockerHistory(Journal):
    def __init__(self, client: Any, env: str) -> None:
        super().__init__(env)
        self._client = client
        self.name = f"shipyard-state-{env}"
        self.where = f"container {self.name}"

    def _container(self, *, create: bool) -> Any:
        import docker.errors

        try:
            return self._client.containers.get(self.name)
        except docker.errors.NotFound:
            if not create:
                return None
            try:
                return _create(self._client, self.name, {"shipyard.state": self.env})
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # created by another deployer just now
                    return self._client.containers.get(self.name)
                raise DeployError(f"cannot create the deploy journal {self.name}: {exc.explanation}") from exc

    def _write(self, name: str, data: bytes) -> None:
        import docker.errors

        container = self._container(create=True)
        try:
            container.put_archive("/", _tar(f"{JOURNAL_DIR}/{name}", data))
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot write the deploy journal in {self.name}: {exc.explanation}") from exc

    def _read(self) -> list[tuple[str, bytes]]:
        import docker.errors

        container = self._container(create=False)
        if container is None:
            return []
        found: list[tuple[str, bytes]] = []
        for path in (f"/{LEGACY_HISTORY}", f"/{JOURNAL_DIR}"):
            try:
                files = _untar(container.get_archive(path)[0])
            except docker.errors.NotFound:
                continue
            found += [
                (f"{self.where}:{path.rstrip('/')}" + ("" if path.endswith(LEGACY_HISTORY) else f"/{n}"), d)
                for n, d in sorted(files.items())
            ]
        return found
