"""A cache store in S3 (shared by CI jobs and developers). boto3 is imported only when the store is built.

The endpoint and credentials come from boto3's usual sources (``AWS_ENDPOINT_URL``, profiles, the instance role).
Transient faults (throttling, connection resets) are retried by botocore's own retry mode; a store that cannot
be reached turns into a miss on ``get`` and a logged warning on ``put``, never a failed build.
"""

from __future__ import annotations

from typing import Any

from shipyard._logging import get_logger
from shipyard._secrets import redact

__all__ = ["S3Store"]


class S3Store:
    """Entries as objects ``<prefix><key[:2]>/<key>.json`` in ``bucket``."""

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
                self._warn("get", exc)
            return None
        except BotoCoreError as exc:
            self._warn("get", exc)
            return None

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            self._warn("put", exc)

    def _warn(self, operation: str, exc: Exception) -> None:
        get_logger("pipeline").warning(
            "s3 cache unavailable",
            operation=operation,
            bucket=self.bucket,
            error=redact(f"{type(exc).__name__}: {exc}"),
        )
