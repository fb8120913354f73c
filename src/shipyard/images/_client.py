"""The one place a docker-py low-level client is made (tests and callers may pass their own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._errors import ImageError

if TYPE_CHECKING:
    import docker

__all__ = ["api_client"]

#: Per-request read timeout for non-streaming calls and the gap allowed between two lines of a push stream.
DEFAULT_TIMEOUT = 120


def api_client(timeout: float = DEFAULT_TIMEOUT) -> docker.APIClient:
    """A low-level client for ``DOCKER_HOST`` (or the default socket), checked with a ping."""
    import docker
    import docker.errors
    import requests
    from docker.utils import kwargs_from_env

    try:
        client = docker.APIClient(**kwargs_from_env(), timeout=int(timeout))
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ImageError(
            f"cannot reach the Docker engine ({exc}); start it (`bash ci/docker-engine.sh`) or set DOCKER_HOST"
        ) from exc
    return client
