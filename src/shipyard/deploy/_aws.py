"""boto3 at the boundary: clients for an environment, and botocore errors translated to one-line DeployErrors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from shipyard._errors import DeployError

__all__ = ["aws_errors", "client", "error_code"]

DEFAULT_REGION = "us-east-1"


def client(service: str, region: str = "") -> Any:
    """A boto3 client; ``AWS_ENDPOINT_URL`` (a moto server in tests) is honoured by boto3 itself."""
    import boto3
    from botocore.config import Config

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore's errors into a ``DeployError`` whose message says what failed and how to fix it."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    try:
        yield
    except NoCredentialsError as exc:
        raise DeployError(
            f"{action}: no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        ) from exc
    except NoRegionError as exc:
        raise DeployError(f"{action}: no AWS region; set region in the environment or AWS_REGION") from exc
    except EndpointConnectionError as exc:
        raise DeployError(f"{action}: cannot reach AWS ({exc}); check AWS_ENDPOINT_URL and the network") from exc
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        raise DeployError(f"{action}: {error_code(exc)}: {message}".replace("\n", " ")) from exc
    except BotoCoreError as exc:
        raise DeployError(f"{action}: {exc}".replace("\n", " ")) from exc
