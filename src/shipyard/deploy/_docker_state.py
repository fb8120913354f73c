"""Docker environments keep their deploy lease and journal ON the Docker host, so every deployer sees them.

The records live in the named volume ``shipyard-state-<env>``, which no ``docker container prune`` or ``docker
system prune`` removes. The engine reads and writes a volume only through a container, so the volume is mounted
at ``/state`` in a container of the same name that is created and never started (from a tiny state image imported
through the API: works for a remote ``DOCKER_HOST`` too, nothing is pulled). A prune may delete that container at
any time: it is created again, with the same volume, at its next use. The environment's proxy (a running
container) mounts the volume too, so while the environment is up even ``docker volume prune`` on Docker before 23
(which removes every unused volume, named or not) leaves it alone.

- the journal is ``/state/journal/<entry>.json``: one file per entry, added with ``put_archive`` and never
  rewritten. ``/state/history.jsonl`` is the format before the journal.
- the lease is the container ``shipyard-lock-<env>``: the engine refuses a second container of that name, so
  creating it is an atomic test-and-set. Its labels name the holder and its lease id; the holder's heartbeat
  writes ``/heartbeat`` into it. Every later change addresses the container by its ID (unique, never reused)
  after checking its ``shipyard.lease`` label, so a deployer can only renew or delete the lease it created.
  A prune deletes that container too, so the lease is mirrored in ``/state/lease.json`` (holder, lease id, last
  renewal; ``ended`` once released): while the mirror names a live lease, no other deployer takes the lock, even
  with its container gone, and the holder's next heartbeat creates the container again.

Migration: a state container from before the volume (its journal in its own file system, ``/journal`` and
``/history.jsonl``) is copied into the volume on first use, checked, and only then replaced.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import tarfile
import time
from typing import Any

from shipyard._errors import DeployError
from shipyard._logging import get_logger
from shipyard.deploy._journal import Journal
from shipyard.deploy._lease import Lease, LeaseInfo

__all__ = ["DockerHistory", "DockerLock", "StateStore", "state_image"]

log = get_logger("shipyard.deploy")

STATE_IMAGE = "shipyard/deploy-state:1"
MOUNT = "/state"
LEGACY_HISTORY = "history.jsonl"
JOURNAL_DIR = "journal"
HEARTBEAT = "heartbeat"
MIRROR = "lease.json"
LOST = "lost.txt"
#: How long a migration may take before another deployer takes it over (it was cut short).
MIGRATION_WAIT = 30.0


def _tar(name: str, data: bytes) -> bytes:
    return tar_files({name: data})


def _members(stream: Any) -> dict[str, bytes]:
    """The regular files of a ``get_archive`` stream, by their path inside the archive (``state/journal/x``)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[member.name] = handle.read()
    return files


def _untar(stream: Any) -> dict[str, bytes]:
    """The regular files of a ``get_archive`` stream, by their base name."""
    return {name.rsplit("/", 1)[-1]: data for name, data in _members(stream).items()}


def tar_files(files: dict[str, bytes]) -> bytes:
    """A tar stream of ``files`` (name -> bytes) for ``put_archive``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
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


def _create(client: Any, name: str, labels: dict[str, str], volumes: dict[str, Any] | None = None) -> Any:
    return client.containers.create(
        state_image(client),
        command=["never-started"],
        name=name,
        labels=labels,
        network_mode="none",
        volumes=volumes or {},
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


class _Busy(Exception):
    """Another deployer is migrating the journal right now."""


def _mounts_state(container: Any) -> bool:
    return any(m.get("Destination") == MOUNT for m in container.attrs.get("Mounts") or [])


class StateStore:
    """The volume ``shipyard-state-<env>`` and the never-started container that mounts it at ``/state``."""

    def __init__(self, client: Any, env: str) -> None:
        self.client, self.env = client, env
        self.name = f"shipyard-state-{env}"
        self.where = f"volume {self.name}"
        #: Set when this store had to create the volume for an environment that already has containers.
        self.lost = ""
        self._container: Any | None = None

    def volume_exists(self) -> bool:
        import docker.errors

        try:
            self.client.volumes.get(self.name)
        except docker.errors.NotFound:
            return False
        return True

    def container(self, *, create: bool) -> Any | None:
        """The state container (created again after a prune, migrated from the old layout); None when there are
        no records at all and ``create`` is false."""
        import docker.errors

        if self._container is not None:
            return self._container
        last: Any = None
        attempts, deadline = 0, time.monotonic() + MIGRATION_WAIT
        while attempts < 5:
            try:
                found = self.client.containers.get(self.name)
            except docker.errors.NotFound:
                found = None
            if found is not None and _mounts_state(found):
                if self.lost:  # said at every later read too: the history shown is not the whole story
                    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
                    found.put_archive(
                        MOUNT, tar_files({LOST: self.lost.replace("before now", f"before {when}").encode()})
                    )
                    self.lost = ""
                self._container = found
                return found
            if found is None and not create and not self.volume_exists():
                return None
            try:
                if found is not None:
                    self._migrate(found)
                else:
                    self._new()
            except _Busy:
                if time.monotonic() > deadline:
                    raise DeployError(
                        f"the deploy journal {self.where} is being migrated by another deployer for over "
                        f"{MIGRATION_WAIT:.0f} s; try again"
                    ) from None
                time.sleep(0.2)  # another deployer is migrating: readers wait for the whole copy
            except docker.errors.APIError as exc:
                # another deployer migrated or replaced it meanwhile (a container gone, renamed, or archived
                # while removed: 404, 409, 500): look again; the old container is only removed once copied
                last, attempts = exc, attempts + 1
        why = getattr(last, "explanation", "") or "no error"
        raise DeployError(f"cannot set up the deploy journal {self.where}: it kept changing under this deploy ({why})")

    def _labels(self) -> dict[str, str]:
        return {"shipyard.state": self.env}

    def _volumes(self) -> dict[str, Any]:
        return {self.name: {"bind": MOUNT, "mode": "rw"}}

    def _ensure_volume(self, *, migrating: bool = False) -> None:
        import docker.errors

        if self.volume_exists():
            return
        self.lost = "" if migrating else self.orphaned()
        if self.lost:
            log.error("deploy.history-lost", env=self.env, problem=self.lost)
        try:  # labels: shipyard.state, never shipyard.env, so `invoke down --volumes` keeps the history
            self.client.volumes.create(self.name, labels=self._labels())
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot create the deploy journal {self.where}: {exc.explanation}") from exc

    def orphaned(self) -> str:
        """Why the history is incomplete when the volume is missing although the environment has app containers."""
        others = self.client.containers.list(
            all=True, ignore_removed=True, filters={"label": [f"shipyard.env={self.env}", "shipyard.role=service"]}
        )
        if not others:
            return ""
        return (
            f"the deploy journal {self.where} was missing although environment {self.env!r} has containers "
            f"({', '.join(sorted(c.name for c in others)[:3])}): the history before now is lost (the volume was "
            "removed: `docker volume rm`, or a volume prune while no container used it)"
        )

    def _new(self) -> None:
        import docker.errors

        self._ensure_volume()
        try:
            _create(self.client, self.name, self._labels(), self._volumes())
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: created by another deployer just now (the caller looks again)
                raise DeployError(f"cannot create the deploy journal container {self.name}: {exc.explanation}") from exc

    def _migrate(self, legacy: Any) -> None:
        """Copy the old container's journal into the volume, check the copy, then put the new container in its
        place. Every step is idempotent: a migration cut short is done again at the next use."""
        import docker.errors

        carried: dict[str, bytes] = {}
        for path in (f"/{LEGACY_HISTORY}", f"/{JOURNAL_DIR}"):
            try:
                members = _members(legacy.get_archive(path)[0])
            except docker.errors.NotFound as exc:
                if "No such container" in str(exc):
                    raise
                continue
            carried.update(members)  # "history.jsonl", "journal/<entry>.json": the same paths under /state
        self._ensure_volume(migrating=True)
        helper_name = f"{self.name}-migrating"
        labels = {**self._labels(), "shipyard.migrating": f"{time.time():.3f}"}
        try:  # the helper's name is the migration's mutex: one deployer copies, the others wait for it
            helper = _create(self.client, helper_name, labels, self._volumes())
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise DeployError(f"cannot migrate the deploy journal of {self.name}: {exc.explanation}") from exc
            helper = self.client.containers.get(helper_name)
            try:
                started = float(helper.labels.get("shipyard.migrating", "0"))
            except ValueError:
                started = 0.0
            if time.time() - started < MIGRATION_WAIT:
                raise _Busy from None
            log.warning("deploy.history-migration-resumed", env=self.env, note="a migration was cut short")
        if carried:
            helper.put_archive(MOUNT, tar_files(carried))
            copied = {name.partition("/")[2]: data for name, data in _members(helper.get_archive(MOUNT)[0]).items()}
            missing = [name for name, data in carried.items() if copied.get(name) != data]
            if missing:
                raise DeployError(
                    f"migrating the deploy journal of {self.name} into {self.where}: {len(missing)} entries did not "
                    f"copy back intact (first: {missing[0]}); the old container is kept, nothing was lost"
                )
        legacy.remove(force=True)  # by ID: the copy is in the volume and checked
        try:
            helper.rename(self.name)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            # The name is taken: by this very helper (another deployer renamed it first), or by a container
            # another deployer created; only in the second case is the helper left over.
            if self.client.containers.get(self.name).id != helper.id:
                helper.remove(force=True)
        log.info("deploy.history-migrated", env=self.env, entries=len(carried), where=self.where)

    def _retrying(self, action: Any) -> Any:
        """``action(container)``, once more with a fresh container if a prune removed it meanwhile."""
        import docker.errors

        for attempt in range(2):
            container = self.container(create=True)
            try:
                return action(container)
            except docker.errors.NotFound as exc:
                if "No such container" not in str(exc) or attempt:
                    raise
                self._container = None
        raise AssertionError("unreachable")

    def write(self, path: str, data: bytes) -> None:
        """Write ``/state/<path>`` (a new file, or a whole replacement of one)."""
        import docker.errors

        try:
            self._retrying(lambda c: c.put_archive(MOUNT, tar_files({path: data})))
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot write {path} in {self.where}: {exc.explanation}") from exc

    def adopt_strays(self, have: dict[str, bytes]) -> dict[str, bytes]:
        """Entries a deployer still on the code before the volume wrote into ``/journal`` of the state container's
        own file system (the migrated container bears the old name), copied into ``/state/journal`` so that a prune
        of that container loses none of them; returned by their path below ``/state``. Idempotent."""
        import docker.errors

        try:
            members = self._retrying(lambda c: _members(c.get_archive(f"/{JOURNAL_DIR}")[0]))
        except docker.errors.NotFound:
            return {}  # none: no old deployer wrote since the migration
        strays = {f"{JOURNAL_DIR}/{name.rsplit('/', 1)[-1]}": data for name, data in members.items()}
        new = {name: data for name, data in strays.items() if name not in have}  # never overwrites an entry
        if new:
            try:
                self._retrying(lambda c: c.put_archive(MOUNT, tar_files(new)))
            except docker.errors.APIError as exc:  # still shown, from the container: nothing is lost by this read
                log.warning("deploy.history-adopt-failed", env=self.env, error=str(exc.explanation))
            else:
                log.warning(
                    "deploy.history-adopted",
                    env=self.env,
                    entries=len(new),
                    note="written by a deployer on a Shipyard from before the journal volume: upgrade it",
                )
        return strays

    def read(self, path: str = "") -> dict[str, bytes] | None:
        """The files under ``/state/<path>`` by their path below ``/state``; None when there is no such path."""
        import docker.errors

        if self.container(create=False) is None:
            return None
        target = f"{MOUNT}/{path}".rstrip("/")
        try:
            members = self._retrying(lambda c: _members(c.get_archive(target)[0]))
        except docker.errors.NotFound:
            return None
        top = MOUNT.strip("/")
        return {name.partition("/")[2] if name.startswith(top + "/") else name: d for name, d in members.items()}


class _Backend:
    """The lease: the container ``shipyard-lock-<env>`` (test-and-set), mirrored in the state volume."""

    def __init__(self, client: Any, env: str) -> None:
        self._client, self._env = client, env
        self.name = f"shipyard-lock-{env}"
        self.where = f"container {self.name}"
        self.store = StateStore(client, env)

    # the mirror ---------------------------------------------------------------------------------------------
    def _mirror(self) -> dict[str, Any] | None:
        try:
            files = self.store.read(MIRROR) or {}
            found = json.loads(files.get(MIRROR, b"null"))
        except (ValueError, tarfile.TarError):
            return None  # unreadable: as if there were none (the container is the test-and-set)
        return found if isinstance(found, dict) and isinstance(found.get("lease"), str) else None

    def _mirror_live(self) -> dict[str, Any] | None:
        mirror = self._mirror()
        return mirror if mirror is not None and not mirror.get("ended") else None

    def _set_mirror(self, holder: str, lease: str, since: float, renewed: float) -> None:
        body = {"holder": holder, "lease": lease, "since": since, "renewed": renewed}
        self.store.write(MIRROR, json.dumps(body).encode())

    def _end_mirror(self, lease: str) -> bool:
        mirror = self._mirror()
        if mirror is None or mirror.get("lease") != lease or mirror.get("ended"):
            return False
        self.store.write(MIRROR, json.dumps({**mirror, "ended": time.time()}).encode())
        return True

    # the four operations -----------------------------------------------------------------------------------
    def _new_container(self, holder: str, lease: str, since: float) -> str | None:
        import docker.errors

        labels = {
            "shipyard.lock": self._env,
            "shipyard.holder": holder,
            "shipyard.lease": lease,
            "shipyard.since": f"{since:.3f}",
        }
        try:
            return str(_create(self._client, self.name, labels).id)
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return None
            raise DeployError(f"cannot create the deploy lock {self.name}: {exc.explanation}") from exc

    def create(self, holder: str, lease: str, now: float) -> Any | None:
        mirror = self._mirror_live()
        if mirror is not None and mirror["lease"] != lease and self._get(self.name) is None:
            return None  # a live lease whose container was pruned: read() reports it
        created = self._new_container(holder, lease, now)
        if created is None:
            return None
        try:
            self._set_mirror(holder, lease, now, now)
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.containers.get(created).remove(force=True)
            raise
        return (created, lease)

    def _get(self, ref: str) -> Any | None:
        import docker.errors

        try:
            return self._client.containers.get(ref)
        except docker.errors.NotFound:
            return None

    def read(self) -> LeaseInfo | None:
        import docker.errors

        container = self._get(self.name)
        if container is None:
            mirror = self._mirror_live()
            if mirror is None:
                return None
            try:
                since, renewed = float(mirror.get("since", 0)), float(mirror.get("renewed", 0))
            except (TypeError, ValueError):
                since = renewed = 0.0
            holder = (
                f"{mirror.get('holder', '?')} (its lock container {self.name} is gone, removed by hand or by a "
                f"prune; the lease lives on in {self.store.where})"
            )
            return LeaseInfo(holder, str(mirror["lease"]), since, renewed, ("", str(mirror["lease"])))
        labels = container.labels or {}
        lease = str(labels.get("shipyard.lease", ""))
        try:
            since = float(labels["shipyard.since"])
        except (KeyError, ValueError):
            created = _created(container)
            why = "its shipyard.since label is missing or not a number"
            holder = str(labels.get("shipyard.holder", "?"))
            return LeaseInfo(holder, lease, created, created, (container.id, lease), why)
        renewed = since
        try:
            beat = json.loads(_untar(container.get_archive(f"/{HEARTBEAT}")[0]).get(HEARTBEAT, b"{}"))
            if isinstance(beat, dict) and beat.get("lease") == lease:
                renewed = max(since, float(beat.get("renewed", since)))
        except docker.errors.NotFound:
            pass  # not renewed yet
        except (ValueError, TypeError, tarfile.TarError):
            pass  # a heartbeat cut short: the lease counts from its last readable renewal (or its start)
        return LeaseInfo(str(labels.get("shipyard.holder", "?")), lease, since, renewed, (container.id, lease))

    def renew(self, token: Any, lease: str, now: float) -> Any | None:
        import docker.errors

        ref = token[0] if isinstance(token, tuple) else str(token)
        container = self._get(ref) if ref else None
        if container is None:
            return self._recreate(lease, now)
        labels = container.labels or {}
        if labels.get("shipyard.lease") != lease:
            return None
        body = json.dumps({"lease": lease, "renewed": now}).encode()
        try:
            container.put_archive("/", _tar(HEARTBEAT, body))
        except docker.errors.NotFound:
            return self._recreate(lease, now)
        holder, since = str(labels.get("shipyard.holder", "?")), float(labels.get("shipyard.since", now))
        self._set_mirror(holder, lease, since, now)
        return (container.id, lease)

    def _recreate(self, lease: str, now: float) -> Any | None:
        """The holder's lock container is gone: create it again if the mirror says the lease is still ours (it was
        pruned), else the lease is lost (released by `invoke unlock`, or taken over)."""
        mirror = self._mirror_live()
        if mirror is None or mirror.get("lease") != lease:
            return None
        holder, since = str(mirror.get("holder", "?")), float(mirror.get("since", now))
        created = self._new_container(holder, lease, since)
        if created is None:
            return None  # someone else's container holds the name now
        self._set_mirror(holder, lease, since, now)
        log.warning("lock.recreated", env=self._env, note=f"{self.name} had been removed (a prune?); created again")
        return (created, lease)

    def delete(self, token: Any) -> bool:
        import docker.errors

        ref, lease = token if isinstance(token, tuple) else (str(token), "")
        container = self._get(ref) if ref else None
        if container is not None and lease and (container.labels or {}).get("shipyard.lease") != lease:
            return False
        ended = self._end_mirror(lease) if lease else False  # first: no one reads the lease as live once it is gone
        if container is None:
            return ended
        try:
            container.remove(force=True)  # by ID: never a lease created after we looked
        except docker.errors.NotFound:
            return ended
        return True


class DockerLock(Lease):
    def __init__(self, client: Any, env: str, ttl: float, heartbeat: float = 10.0) -> None:
        super().__init__(_Backend(client, env), env, ttl, heartbeat)
        self.name = f"shipyard-lock-{env}"


class DockerHistory(Journal):
    def __init__(self, client: Any, env: str) -> None:
        super().__init__(env)
        self.store = StateStore(client, env)
        self.name = self.store.name
        self.where = self.store.where

    def _write(self, name: str, data: bytes) -> None:
        self.store.write(f"{JOURNAL_DIR}/{name}", data)

    def _read(self) -> list[tuple[str, bytes]]:
        files = self.store.read()
        if files is None:
            if lost := self.store.orphaned():
                self._problem(lost)
            return []
        files = {**self.store.adopt_strays(files), **files}
        if LOST in files:
            self._problem(files[LOST].decode(errors="replace")[:400])
        found = [(f"{self.where}:/{LEGACY_HISTORY}", files[LEGACY_HISTORY])] if LEGACY_HISTORY in files else []
        prefix = f"{JOURNAL_DIR}/"
        found += [
            (f"{self.where}:/{name}", data)
            for name, data in sorted(files.items())
            if name.startswith(prefix) and "/" not in name[len(prefix) :]
        ]
        return found
