"""A cache store in S3 (shared by CI jobs and developers). boto3 is imported only when the store is built.

The endpoint and credentials come from boto3's usual sources (``AWS_ENDPOINT_URL``, profiles, the instance role).
Transient faults (throttling, connection resets) are retried by botocore's own retry mode; a store that cannot
be reached raises ``CacheStoreError``, which the run turns into one warning and misses, never a failed build.
Entries are signed and verified by the cache layer (``shipyard.pipeline._cache``), not here.
"""

from __future__ import annotations

from typing import Any

from shipyard._errors import PipelineError
from shipyard._secrets import redact

__all__ = ["CacheStoreError", "S3Store"]


class CacheStoreError(PipelineError):
    """The store could not be reached or refused the operation."""


class S3Store:
    """Entries as objects ``<prefix><key[:2]>/<key>.json`` in ``bucket``."""

    shared = True  # read by other machines: entries must be signed

    def __init__(self, bucket: str, *, prefix: str = "shipyard-cache/", client: Any = None) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 3}))
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _object(self, key: str) -> str:
        return f"{self.prefix}{key[:2]}/{key}.json"

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
            return bytes(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise self._error("get", exc) from None
            return None
        except BotoCoreError as exc:
            raise self._error("get", exc) from None

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("put", exc) from None

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._error("delete", exc) from None

    def _error(self, operation: str, exc: Exception) -> CacheStoreError:
        return CacheStoreError(redact(f"s3://{self.bucket}/{self.prefix} {operation}: {type(exc).__name__}: {exc}"))
