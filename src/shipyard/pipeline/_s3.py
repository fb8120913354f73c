"""A cache store in S3 (shared by CI jobs and developers). botocore is imported only when the store is built.

The endpoint and credentials come from boto3's usual sources (``AWS_ENDPOINT_URL``, profiles, the instance role).
Transient faults (throttling, connection resets) are retried by botocore's own retry mode; a store that cannot
be reached raises ``CacheStoreError``, which the run turns into one warning and misses, never a failed build.
Entries are signed and verified by the cache layer (``shipyard.pipeline._cache``), not here.

Entries (small JSON) go through ``get``/``put``. Large artifacts go through ``put_file``/``get_file``, which
stream in parts (a multipart upload of ``part_size`` pieces; a download read in chunks into a temporary file that
replaces the target only when complete and, if asked, only when its SHA-256 matches), so memory stays at about
one part whatever the artifact's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from shipyard._errors import PipelineError
from shipyard._logging import get_logger
from shipyard._secrets import redact

__all__ = ["CacheStoreError", "S3Store"]


#: Seconds to connect, and to wait for each read, before botocore retries (3 attempts): a store that hangs costs
#: the run at most about 3 x (connect + read) once, then it is treated as down (every lookup a miss).
TIMEOUT = 5.0


def _client(timeout: float) -> Any:
    """An S3 client from botocore's own session: the same credential chain, endpoint and region as
    ``boto3.client("s3")`` without importing boto3 and s3transfer (a third of a second a CI job pays at start)."""
    from botocore.config import Config
    from botocore.session import get_session

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=timeout, read_timeout=timeout)
    return get_session().create_client("s3", config=config)


class CacheStoreError(PipelineError):
    """The store could not be reached or refused the operation."""


class S3Store:
    """Entries as objects ``<prefix><key[:2]>/<key>.json`` in ``bucket``."""

    shared = True  # read by other machines: entries must be signed
    #: S3's smallest part (but the last) is 5 MiB; 8 MiB keeps the part count of a 1 GB artifact at 128.
    PART_SIZE = 8 * 1024 * 1024
    _CHUNK = 1024 * 1024

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "shipyard-cache/",
        client: Any = None,
        part_size: int = PART_SIZE,
        timeout: float = TIMEOUT,
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("part_size must be at least 5 MiB (S3's minimum part size)")
        self.part_size = part_size
        if client is None:
            client = _client(timeout)
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
        """Drop an entry (one that failed verification); a store that cannot be reached raises ``CacheStoreError``."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._error("delete", exc) from None

    def _error(self, operation: str, exc: Exception) -> CacheStoreError:
        return CacheStoreError(redact(f"s3://{self.bucket}/{self.prefix} {operation}: {type(exc).__name__}: {exc}"))

    def _blob(self, key: str) -> str:
        return f"{self.prefix}{key[:2]}/{key}.blob"

    def put_file(self, key: str, path: Path) -> bool:
        """Upload ``path`` under ``key`` in parts; False (and a warning, and no partial object) on failure."""
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._blob(key)
        upload_id = None
        try:
            if path.stat().st_size <= self.part_size:
                with path.open("rb") as fh:
                    self.client.put_object(Bucket=self.bucket, Key=name, Body=fh)
                return True
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
            parts = []
            with path.open("rb") as fh:
                number = 1
                while chunk := fh.read(self.part_size):
                    done = self.client.upload_part(
                        Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=chunk
                    )
                    parts.append({"PartNumber": number, "ETag": done["ETag"]})
                    del chunk  # one part in memory at a time
                    number += 1
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            return True
        except (BotoCoreError, ClientError, OSError) as exc:
            if upload_id is not None:
                with contextlib.suppress(BotoCoreError, ClientError):
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            self._warn("put_file", exc)
            return False

    def get_file(self, key: str, dest: Path, *, sha256: str | None = None) -> bool:
        """Download ``key`` into ``dest`` in chunks; False on a miss, a failure or a digest mismatch (``dest``
        is then untouched)."""
        from botocore.exceptions import BotoCoreError, ClientError

        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        digest = hashlib.sha256()
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._blob(key))
            with tmp.open("wb") as fh:
                for chunk in response["Body"].iter_chunks(self._CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
        except ClientError as exc:
            tmp.unlink(missing_ok=True)
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                self._warn("get_file", exc)
            return False
        except (BotoCoreError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            self._warn("get_file", exc)
            return False
        if sha256 is not None and digest.hexdigest() != sha256:
            tmp.unlink(missing_ok=True)
            get_logger("pipeline").warning("s3 cache artifact does not match its digest", key=key, bucket=self.bucket)
            return False
        tmp.replace(dest)
        return True

    def _warn(self, operation: str, exc: Exception) -> None:
        get_logger("pipeline").warning(
            "s3 cache unavailable",
            operation=operation,
            bucket=self.bucket,
            error=redact(f"{type(exc).__name__}: {exc}"),
        )
