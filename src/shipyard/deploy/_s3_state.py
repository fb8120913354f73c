"""ECS environments keep their deploy lease and journal in S3 (the bucket named by ``history_bucket``).

The lease is ``shipyard/locks/<env>.json``, created with ``If-None-Match: *`` (exactly one writer can create
it), renewed with ``If-Match`` on the ETag its holder last wrote, and deleted with ``If-Match`` too, so only the
holder can renew or delete it, and a stale lease is taken over by deleting exactly the object that was seen
stale. The journal is one object per entry under ``shipyard/journal/<env>/``, each created with
``If-None-Match: *`` and never rewritten. ``shipyard/history/<env>/`` (the format before the journal) is still read.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard._errors import DeployError
from shipyard.deploy._aws import aws_errors, error_code
from shipyard.deploy._journal import Journal
from shipyard.deploy._lease import Lease, LeaseInfo

__all__ = ["S3History", "S3Lock"]

PREFIX = "shipyard"
_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


class _Backend:
    def __init__(self, s3: Any, bucket: str, env: str) -> None:
        self._s3, self._bucket = s3, bucket
        self._key = f"{PREFIX}/locks/{env}.json"
        self.where = f"s3://{bucket}/{self._key}"
        self._holder, self._since = "", 0.0

    def _put(self, body: dict[str, Any], **condition: str) -> str | None:
        from botocore.exceptions import ClientError

        with aws_errors(f"writing the deploy lock {self.where}"):
            try:
                response = self._s3.put_object(
                    Bucket=self._bucket, Key=self._key, Body=json.dumps(body).encode(), **condition
                )
            except ClientError as exc:
                if error_code(exc) in _CONFLICT | _MISSING:
                    return None
                raise
        return str(response["ETag"])

    def create(self, holder: str, lease: str, now: float) -> Any | None:
        self._holder, self._since = holder, now
        return self._put({"holder": holder, "lease": lease, "since": now, "renewed": now}, IfNoneMatch="*")

    def read(self) -> LeaseInfo | None:
        from botocore.exceptions import ClientError

        with aws_errors(f"reading the deploy lock {self.where}"):
            try:
                response = self._s3.get_object(Bucket=self._bucket, Key=self._key)
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    return None
                raise
            raw = response["Body"].read()
        token = str(response["ETag"])
        try:
            info = json.loads(raw)
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
            since = float(info["since"])
            return LeaseInfo(
                str(info.get("holder", "?")),
                str(info.get("lease", "")),
                since,
                float(info.get("renewed", since)),
                token,
            )
        except (ValueError, KeyError, TypeError) as exc:
            changed = response["LastModified"].timestamp()
            return LeaseInfo("?", "", changed, changed, token, f"not a lease object: {str(exc)[:60]}")

    def renew(self, token: Any, lease: str, now: float) -> Any | None:
        body = {"holder": self._holder, "lease": lease, "since": self._since, "renewed": now}
        return self._put(body, IfMatch=str(token))

    def delete(self, token: Any) -> bool:
        from botocore.exceptions import ClientError

        with aws_errors(f"releasing the deploy lock {self.where}"):
            try:
                self._s3.delete_object(Bucket=self._bucket, Key=self._key, IfMatch=str(token))
            except ClientError as exc:
                if error_code(exc) in _CONFLICT | _MISSING:
                    return False
                raise
        return True


class S3Lock(Lease):
    def __init__(self, s3: Any, bucket: str, env: str, ttl: float, heartbeat: float = 10.0) -> None:
        super().__init__(_Backend(s3, bucket, env), env, ttl, heartbeat)


def _deploy_of(key: str) -> str:
    """The deploy id in a journal key ``.../<time_ns>-<counter>-<deploy id>-<kind>.json``."""
    parts = key.rsplit("/", 1)[-1].split("-", 2)
    return parts[2].rsplit("-", 1)[0] if len(parts) == 3 else key


class S3History(Journal):
    def __init__(self, s3: Any, bucket: str, env: str) -> None:
        super().__init__(env)
        self._s3, self._bucket = s3, bucket
        self._prefix = f"{PREFIX}/journal/{env}/"
        self._legacy = f"{PREFIX}/history/{env}/"
        self.where = f"s3://{bucket}/{self._prefix}"

    def _write(self, name: str, data: bytes) -> None:
        from botocore.exceptions import ClientError

        with aws_errors(f"writing deploy history to {self.where}"):
            try:
                self._s3.put_object(Bucket=self._bucket, Key=self._prefix + name, Body=data, IfNoneMatch="*")
            except ClientError as exc:
                if error_code(exc) in _CONFLICT:
                    raise DeployError(
                        f"{self.where}{name} exists already; journal entries are never rewritten"
                    ) from exc
                raise

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)

    def _wanted(self, keys: list[str]) -> list[str]:
        """``keys`` less the phase entries of deploys that have ended (only an open deploy's phases matter, for its
        recovery), so reading a long history costs about two requests per deploy, not one per phase."""
        ended = {_deploy_of(key) for key in keys if key.endswith("-end.json")}
        return [key for key in keys if not (key.endswith("-phase.json") and _deploy_of(key) in ended)]

    def _read(self) -> list[tuple[str, bytes]]:
        from concurrent.futures import ThreadPoolExecutor

        from botocore.exceptions import ClientError

        def get(key: str) -> bytes | None:
            try:
                return bytes(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    return None
                raise

        with aws_errors(f"reading deploy history from {self.where}"):
            keys = self._keys(self._legacy) + self._wanted(self._keys(self._prefix))
            with ThreadPoolExecutor(max_workers=16) as pool:
                bodies = list(pool.map(get, keys))
        return [
            (f"s3://{self._bucket}/{key}", body) for key, body in zip(keys, bodies, strict=True) if body is not None
        ]
