"""Registry credentials, resolved by Shipyard and passed explicitly as ``auth_config`` on every push.

docker-py's own lookup (an in-memory ``login()`` cache that credential helpers silently override) is never
relied on. Sources, first match wins (``default_credentials``):
``SHIPYARD_REGISTRY_USERNAME``/``SHIPYARD_REGISTRY_PASSWORD``, ECR (boto3 ``get_authorization_token``, cached
until shortly before it expires) for ``*.dkr.ecr.*.amazonaws.com`` registries, then the Docker config file.
Every password is registered as a secret, so no log or message shows it.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shipyard._errors import ImageError
from shipyard._secrets import register_secret

__all__ = [
    "Credentials",
    "DockerConfigCredentials",
    "EcrCredentials",
    "EnvCredentials",
    "StaticCredentials",
    "default_credentials",
    "is_ecr",
]

AuthConfig = dict[str, str]
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
USERNAME_VAR = "SHIPYARD_REGISTRY_USERNAME"
PASSWORD_VAR = "SHIPYARD_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a password


class Credentials(Protocol):
    """Gives the ``auth_config`` for one push to ``registry`` (``{}`` means anonymous)."""

    def auth_config(self, registry: str) -> AuthConfig: ...


def is_ecr(registry: str) -> bool:
    """True for an Amazon ECR registry host name."""
    return bool(_ECR_HOST.match(registry.split("/", 1)[0]))


@dataclass(frozen=True)
class StaticCredentials:
    """A fixed user name and password."""

    username: str
    password: str

    def __post_init__(self) -> None:
        register_secret(self.password, source=f"the registry password of {self.username!r}")

    def auth_config(self, registry: str) -> AuthConfig:
        return {"username": self.username, "password": self.password, "serveraddress": registry}


class EnvCredentials:
    """``SHIPYARD_REGISTRY_USERNAME`` and ``SHIPYARD_REGISTRY_PASSWORD`` from the environment."""

    @staticmethod
    def present() -> bool:
        return bool(os.environ.get(USERNAME_VAR) and os.environ.get(PASSWORD_VAR))

    def auth_config(self, registry: str) -> AuthConfig:
        if not self.present():
            raise ImageError(f"set both {USERNAME_VAR} and {PASSWORD_VAR} to push to {registry}")
        register_secret(os.environ[PASSWORD_VAR], source=f"${PASSWORD_VAR}")  # a refusal names the variable
        return StaticCredentials(os.environ[USERNAME_VAR], os.environ[PASSWORD_VAR]).auth_config(registry)


class DockerConfigCredentials:
    """The Docker config file (``~/.docker/config.json`` or ``$DOCKER_CONFIG``), credential helpers included."""

    def auth_config(self, registry: str) -> AuthConfig:
        import docker.auth

        found: dict[str, Any] | None = docker.auth.load_config().resolve_authconfig(registry)
        if not found:
            return {}
        # Three shapes exist (config entry, credential store, identity token): normalise to what push expects.
        if token := found.get("IdentityToken") or found.get("identitytoken"):
            register_secret(str(token), source="the registry identity token in the Docker config")
            return {"identitytoken": str(token), "serveraddress": registry}
        username = found.get("username") or found.get("Username")
        password = found.get("password") or found.get("Password")
        if not (username and password):
            return {}
        return StaticCredentials(str(username), str(password)).auth_config(registry)


class EcrCredentials:
    """ECR's 12-hour token from ``get_authorization_token``, cached until ``margin`` seconds before expiry."""

    def __init__(
        self,
        client_factory: Callable[[], Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = 300.0,
    ) -> None:
        self._client_factory = client_factory or _ecr_client
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._cached: tuple[StaticCredentials, float] | None = None
        self.fetches = 0

    def auth_config(self, registry: str) -> AuthConfig:
        with self._lock:
            if self._cached is None or self._clock() >= self._cached[1] - self._margin:
                self._cached = self._fetch()
            return self._cached[0].auth_config(registry)

    def _fetch(self) -> tuple[StaticCredentials, float]:
        import botocore.exceptions

        try:
            data = self._client_factory().get_authorization_token()["authorizationData"][0]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ImageError(f"cannot get an ECR authorization token: {exc}") from exc
        self.fetches += 1
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        return StaticCredentials(username, password), data["expiresAt"].timestamp()


def _ecr_client() -> Any:
    import boto3

    return boto3.client("ecr")


_ecr_shared: EcrCredentials | None = None


def default_credentials(registry: str) -> Credentials:
    """The credentials Shipyard uses for ``registry`` when the caller gives none."""
    global _ecr_shared  # noqa: PLW0603 - one process-wide token cache, as the token is per account
    if EnvCredentials.present():
        return EnvCredentials()
    if is_ecr(registry):
        _ecr_shared = _ecr_shared or EcrCredentials()
        return _ecr_shared
    return DockerConfigCredentials()
