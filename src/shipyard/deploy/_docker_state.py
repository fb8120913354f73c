"""Docker environments keep their deploy lock and history ON the Docker host, so every deployer sees them.

Both live in containers that are created and never started, from a tiny state image imported through the API
(works for a remote ``DOCKER_HOST`` too; nothing needs to be pulled):

- the lock is the container ``shipyard-lock-<env>``: the engine refuses a second container of that name, so
  creating it is an atomic test-and-set. Its labels name the holder and the time; past ``lock_ttl`` it is stale
  and removed.
- the history is ``/history.jsonl`` inside ``shipyard-state-<env>``, read with ``get_archive`` and rewritten
  with ``put_archive`` (only by the lock holder, so writes never race).
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
from typing import Any

from shipyard._errors import DeployError
from shipyard._secrets import redact
from shipyard.deploy._model import HistoryRecord

__all__ = ["DockerHistory", "DockerLock", "state_image"]

STATE_IMAGE = "shipyard/deploy-state:1"
HISTORY_FILE = "history.jsonl"


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


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


class DockerLock:
    def __init__(self, client: Any, env: str, ttl: float) -> None:
        self._client, self._env, self._ttl = client, env, ttl
        self.name = f"shipyard-lock-{env}"

    def acquire(self, holder: str) -> None:
        import docker.errors

        labels = {"shipyard.lock": self._env, "shipyard.holder": holder, "shipyard.since": f"{time.time():.3f}"}
        for _attempt in range(2):
            try:
                _create(self._client, self.name, labels)
                return
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise DeployError(f"cannot create the deploy lock {self.name}: {exc.explanation}") from exc
            try:
                current = self._client.containers.get(self.name)
            except docker.errors.NotFound:
                continue  # released in between: try again
            info = current.labels
            age = time.time() - float(info.get("shipyard.since", "0"))
            if age <= self._ttl:
                raise DeployError(
                    f"environment {self._env!r} is locked by {info.get('shipyard.holder', '?')} since {age:.0f} s "
                    f"ago; wait for that deploy, or the lock expires after {self._ttl:.0f} s"
                )
            current.remove(force=True)  # stale
        raise DeployError(f"environment {self._env!r}: the deploy lock was just taken by another deploy")

    def release(self) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            self._client.containers.get(self.name).remove(force=True)


class DockerHistory:
    def __init__(self, client: Any, env: str) -> None:
        self._client, self._env = client, env
        self.name = f"shipyard-state-{env}"

    def _container(self, *, create: bool) -> Any:
        import docker.errors

        try:
            return self._client.containers.get(self.name)
        except docker.errors.NotFound:
            if not create:
                return None
            return _create(self._client, self.name, {"shipyard.state": self._env})

    def _read(self, container: Any) -> str:
        import docker.errors

        try:
            stream, _ = container.get_archive(f"/{HISTORY_FILE}")
        except docker.errors.NotFound:
            return ""
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(HISTORY_FILE)
            return member.read().decode() if member else ""

    def records(self) -> list[HistoryRecord]:
        container = self._container(create=False)
        if container is None:
            return []
        lines = self._read(container).splitlines()
        return [HistoryRecord.from_dict(json.loads(line)) for line in lines if line.strip()]

    def append(self, record: HistoryRecord) -> None:
        container = self._container(create=True)
        text = self._read(container) + redact(json.dumps(record.to_dict(), sort_keys=True)) + "\n"
        container.put_archive("/", _tar(HISTORY_FILE, text.encode()))
