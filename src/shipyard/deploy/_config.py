"""Deploy environments: ``[tool.shipyard.environments.<name>]`` tables in pyproject.toml, validated.

Every environment names its target (``docker`` or ``ecs``), the image to deploy, plain environment variables and
secret references. Mistakes are one-line ``ConfigError`` s naming the file and the dotted key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipyard._errors import ConfigError
from shipyard._pyproject import PYPROJECT, Field, find_root, load, validate_table

__all__ = ["Environment", "default_environment", "get_environment", "load_environments"]

TABLE = "tool.shipyard.environments"
SECRET_SCHEMES = ("ssm:", "secretsmanager:")

_COMMON = {
    "target": Field(str, required=True, help='"docker" or "ecs"'),
    "default": Field(bool, default=False),
    "registry": Field(str, default=""),
    "image": Field(str, required=True, help="the image repository to deploy, e.g. hello-service"),
    "env": Field(dict, default={}),
    "secrets": Field(dict, default={}),
    "region": Field(str, default=""),
    "health_path": Field(str, default="/healthz"),
    "timeout": Field((int, float), default=60),
    "lock_ttl": Field((int, float), default=60, help="seconds a lock outlives its holder's last heartbeat"),
    "lock_heartbeat": Field((int, float), default=10, help="seconds between lock renewals"),
}
_DOCKER = {
    **_COMMON,
    "docker_host": Field(str, default=""),
    "port": Field(int, required=True, help="the stable port the service listens on"),
    "host": Field(str, default="127.0.0.1"),
    "container": Field(str, default=""),
    "stop_timeout": Field(int, default=15),
}
_ECS = {
    **_COMMON,
    "cluster": Field(str, required=True, help="the ECS cluster name or ARN"),
    "service": Field(str, required=True, help="the ECS service name"),
    "container": Field(str, default="", help="container name in the task definition (default: the first)"),
    "history_bucket": Field(str, required=True, help="S3 bucket for the deploy lock and history"),
    "poll_interval": Field((int, float), default=5),
}
_TARGETS: dict[str, Mapping[str, Field]] = {"docker": _DOCKER, "ecs": _ECS}


@dataclass(frozen=True)
class Environment:
    """One deploy environment, validated. ``settings`` holds the target-specific keys."""

    name: str
    target: Literal["docker", "ecs"]
    image: str
    registry: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    region: str = ""
    health_path: str = "/healthz"
    timeout: float = 60.0
    lock_ttl: float = 60.0
    lock_heartbeat: float = 10.0
    default: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    file: str = PYPROJECT

    @property
    def repository(self) -> str:
        """``registry/image`` (or just ``image`` without a registry): where the image is pushed."""
        return f"{self.registry.rstrip('/')}/{self.image}" if self.registry else self.image

    def setting(self, key: str) -> Any:
        return self.settings[key]


def _string_map(value: Mapping[str, Any], *, file: str, key: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise ConfigError(f"must be a string, got {type(item).__name__}", file=file, key=f"{key}.{name}")
        result[name] = str(item)
    return result


def _parse(name: str, table: object, *, file: str) -> Environment:
    key = f"{TABLE}.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"must be a table, got {type(table).__name__}", file=file, key=key)
    target = table.get("target")
    if target not in _TARGETS:
        raise ConfigError(
            f'target must be "docker" or "ecs", got {target!r}; set target', file=file, key=f"{key}.target"
        )
    values = validate_table(table, _TARGETS[target], file=file, key=key)
    env = _string_map(values.pop("env"), file=file, key=f"{key}.env")
    secrets = _string_map(values.pop("secrets"), file=file, key=f"{key}.secrets")
    for var, ref in secrets.items():
        if not ref.startswith(SECRET_SCHEMES) or ref.partition(":")[2] == "":
            raise ConfigError(
                f"secret reference {ref!r} must be ssm:/parameter/path or secretsmanager:name",
                file=file,
                key=f"{key}.secrets.{var}",
            )
        if var in env:
            raise ConfigError("is both a plain variable and a secret; keep one", file=file, key=f"{key}.env.{var}")
    common = {k: values.pop(k) for k in ("target", "image", "registry", "region", "health_path", "default")}
    timeout, lock_ttl = float(values.pop("timeout")), float(values.pop("lock_ttl"))
    if timeout <= 0:
        raise ConfigError("must be a positive number of seconds", file=file, key=f"{key}.timeout")
    lock_heartbeat = _lease_timing(lock_ttl, float(values.pop("lock_heartbeat")), file=file, key=key)
    return Environment(
        name=name,
        env=env,
        secrets=secrets,
        timeout=timeout,
        lock_ttl=lock_ttl,
        lock_heartbeat=lock_heartbeat,
        settings=values,
        file=file,
        **common,
    )


#: A lease survives this many missed heartbeats before it counts as stale.
MISSED_HEARTBEATS = 3


def _lease_timing(lock_ttl: float, heartbeat: float, *, file: str, key: str) -> float:
    """``heartbeat`` if a lock renewed that often survives a few missed renewals within ``lock_ttl``."""
    if heartbeat <= 0:
        raise ConfigError("must be a positive number of seconds", file=file, key=f"{key}.lock_heartbeat")
    if lock_ttl < MISSED_HEARTBEATS * heartbeat:
        raise ConfigError(
            f"is {lock_ttl:g} s, less than {MISSED_HEARTBEATS} heartbeats of {heartbeat:g} s: a live deploy would "
            f"lose its lock; raise lock_ttl to >= {MISSED_HEARTBEATS * heartbeat:g} or lower lock_heartbeat",
            file=file,
            key=f"{key}.lock_ttl",
        )
    return heartbeat


def load_environments(root: Path | None = None) -> dict[str, Environment]:
    """Every environment of the project at ``root`` (default: the project around the working directory)."""
    path = (root or find_root()) / PYPROJECT
    data = load(path)
    tables = data.get("tool", {}).get("shipyard", {}).get("environments", {})
    file = str(path)
    if not isinstance(tables, Mapping):
        raise ConfigError("must be a table of environments", file=file, key=TABLE)
    envs = {name: _parse(name, table, file=file) for name, table in tables.items()}
    defaults = [env.name for env in envs.values() if env.default]
    if len(defaults) > 1:
        raise ConfigError(f"only one environment may set default = true, found {', '.join(defaults)}", file=file)
    return envs


def default_environment(envs: Mapping[str, Environment]) -> str | None:
    return next((env.name for env in envs.values() if env.default), None)


def get_environment(name: str | None, root: Path | None = None) -> Environment:
    """The environment called ``name`` (or the default one); an unknown name lists the valid ones."""
    envs = load_environments(root)
    file = str((root or find_root()) / PYPROJECT)
    if not envs:
        raise ConfigError(f"no environments defined; add a [{TABLE}.<name>] table", file=file, key=TABLE)
    chosen = name or default_environment(envs)
    if chosen is None:
        raise ConfigError(f"no default environment; pass --env, one of: {', '.join(sorted(envs))}", file=file)
    if chosen not in envs:
        raise ConfigError(
            f"unknown environment {chosen!r}; valid environments are: {', '.join(sorted(envs))}",
            file=file,
            key=TABLE,
        )
    return envs[chosen]
