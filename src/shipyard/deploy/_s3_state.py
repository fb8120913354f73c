"""ECS environments keep their deploy lock and history in S3 (the bucket named by ``history_bucket``).

The lock is an object created with ``If-None-Match: *``: S3 lets exactly one writer create it. A lock older than
the environment's ``lock_ttl`` is stale and is taken over with ``If-Match`` on its ETag, so two deployers that
both see it stale cannot both win. History is one JSON object per deploy, so concurrent appends never collide.
"""

from __future__ import annotations

import json
import time
from typing import Any

from shipyard._errors import DeployError
from shipyard._secrets import redact
from shipyard.deploy._aws import aws_errors, error_code
from shipyard.deploy._model import HistoryRecord

__all__ = ["S3History", "S3Lock"]

PREFIX = "shipyard"


class S3Lock:
    def __init__(self, s3: Any, bucket: str, env: str, ttl: float) -> None:
        self._s3, self._bucket, self._ttl = s3, bucket, ttl
        self._key = f"{PREFIX}/locks/{env}.json"
        self._env = env

    def _body(self, holder: str) -> bytes:
        return json.dumps({"holder": holder, "since": time.time()}).encode()

    def acquire(self, holder: str) -> None:
        from botocore.exceptions import ClientError

        with aws_errors(f"taking the deploy lock s3://{self._bucket}/{self._key}"):
            try:
                self._s3.put_object(Bucket=self._bucket, Key=self._key, Body=self._body(holder), IfNoneMatch="*")
                return
            except ClientError as exc:
                if error_code(exc) not in {"PreconditionFailed", "ConditionalRequestConflict"}:
                    raise
            current = self._s3.get_object(Bucket=self._bucket, Key=self._key)
            info = json.loads(current["Body"].read() or b"{}")
            age = time.time() - float(info.get("since", 0))
            if age <= self._ttl:
                raise DeployError(
                    f"environment {self._env!r} is locked by {info.get('holder', '?')} since {age:.0f} s ago; "
                    f"wait for that deploy, or the lock expires after {self._ttl:.0f} s"
                )
            try:  # stale: take it over, but only if nobody else did first
                self._s3.put_object(
                    Bucket=self._bucket, Key=self._key, Body=self._body(holder), IfMatch=current["ETag"]
                )
            except ClientError as exc:
                if error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                    raise DeployError(f"environment {self._env!r} lock was just taken by another deploy") from exc
                raise

    def release(self) -> None:
        with aws_errors("releasing the deploy lock"):
            self._s3.delete_object(Bucket=self._bucket, Key=self._key)


class S3History:
    def __init__(self, s3: Any, bucket: str, env: str) -> None:
        self._s3, self._bucket = s3, bucket
        self._prefix = f"{PREFIX}/history/{env}/"

    def append(self, record: HistoryRecord) -> None:
        body = redact(json.dumps(record.to_dict(), sort_keys=True))
        with aws_errors(f"writing deploy history to s3://{self._bucket}/{self._prefix}"):
            self._s3.put_object(Bucket=self._bucket, Key=f"{self._prefix}{record.deploy_id}.json", Body=body.encode())

    def records(self) -> list[HistoryRecord]:
        with aws_errors(f"reading deploy history from s3://{self._bucket}/{self._prefix}"):
            keys: list[str] = []
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
            records = [
                HistoryRecord.from_dict(json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()))
                for key in keys
            ]
        return sorted(records, key=lambda r: r.started_at)
