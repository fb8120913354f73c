"""Deploy environments: ``[tool.shipyard.environments.<name>]`` tables in pyproject.toml, validated.

Every environment names its target (``docker`` or ``ecs``), the image to deploy, plain environment variables and
secret references. Mistakes are one-line ``ConfigError`` s naming the file and the dotted key.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipyard._errors import ConfigError
from shipyard._pyproject import PYPROJECT, Field, find_root, load, table_at, validate_table
from shipyard._refs import parse_reference, registry_problem
from shipyard._secrets import protect
from shipyard.attest._gate import check_trust_root, parse_rules
from shipyard.attest._policy import SigstorePolicy, parse_sigstore

__all__ = ["Environment", "default_environment", "get_environment", "load_environments", "read_env_files"]

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
    "health_path": Field(str, default="/"),
    "timeout": Field((int, float), default=60),
    "lock_ttl": Field((int, float), default=60, help="seconds a lock outlives its holder's last heartbeat"),
    "lock_heartbeat": Field((int, float), default=10, help="seconds between lock renewals"),
    "require": Field(list, default=[], help="deploy-gate rules (docs/supply-chain.md)"),
    "sigstore": Field(dict, default=None, help="the Sigstore identity the gate trusts (docs/supply-chain.md)"),
}
_DOCKER = {
    **_COMMON,
    "docker_host": Field(str, default=""),
    "port": Field(int, required=True, help="the stable port the service listens on"),
    "host": Field(str, default="127.0.0.1"),
    "container": Field(str, default=""),
    "stop_timeout": Field(int, default=15),
    "proxy_image": Field(str, default="shipyard/proxy:haproxy-bookworm"),
    "healthy_checks": Field(int, default=3),
    "bake": Field((int, float), default=3),
    "bake_max_5xx": Field((int, float), default=0.01),
    "drain_timeout": Field((int, float), default=30),
    "retain": Field(int, default=3),
    "release_command": Field((str, list), default=""),
    "command": Field((str, list), default=""),
    "volumes": Field(list, default=[]),
    "env_file": Field((str, list), default=[]),
    "memory": Field((str, int), default=""),
    "cpus": Field((int, float), default=0),
    "pids_limit": Field(int, default=0),
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
    health_path: str = "/"
    timeout: float = 60.0
    lock_ttl: float = 60.0
    lock_heartbeat: float = 10.0
    default: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    file: str = PYPROJECT
    #: Deploy-gate rules the image's verified provenance must meet (``shipyard.attest``); empty: no gate.
    require: tuple[str, ...] = ()
    #: Whose Sigstore (keyless) signatures the gate accepts, and under which trust root; None: keys only.
    sigstore: SigstorePolicy | None = None

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
        scheme, _, secret_name = ref.partition(":")
        if not _SECRET_NAME[scheme].fullmatch(secret_name):
            raise ConfigError(
                f"{secret_name!r} is not a valid {scheme} name (AWS allows {_SECRET_CHARS[scheme]} only)",
                file=file,
                key=f"{key}.secrets.{var}",
            )
        if var in env:
            raise ConfigError("is both a plain variable and a secret; keep one", file=file, key=f"{key}.env.{var}")
    _check_values(name, values, {"env": env, "secrets": secrets}, file=file, key=key)
    if values["target"] == "docker":
        _check_docker_settings(values, file=file, key=key)
    common = {k: values.pop(k) for k in ("target", "image", "registry", "region", "health_path", "default")}
    timeout, lock_ttl = float(values.pop("timeout")), float(values.pop("lock_ttl"))
    require = parse_rules(values.pop("require"), file=file, key=f"{key}.require")
    sigstore = parse_sigstore(values.pop("sigstore"), root=Path(file).parent, file=file, key=f"{key}.sigstore")
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
        require=require,
        sigstore=sigstore,
        **common,
    )


#: What AWS accepts in an SSM parameter name and a Secrets Manager name or ARN (found otherwise only at deploy).
_SECRET_CHARS = {"ssm": "letters, digits and _ . - /", "secretsmanager": "letters, digits and / _ + = . @ - :"}
_SECRET_NAME = {"ssm": re.compile(r"[a-zA-Z0-9_./-]+"), "secretsmanager": re.compile(r"[a-zA-Z0-9/_+=.@:-]+")}
#: Docker's rule for container names; environment names become part of container names.
_DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
#: botocore's own rule for region names (it raises InvalidRegionError when a client is made).
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: Linux refuses to exec a process with one ``NAME=value`` string longer than this (MAX_ARG_STRLEN).
_MAX_ENV_ENTRY = 128 * 1024
_DOCKER_HOST_SCHEMES = ("unix://", "tcp://", "ssh://", "http://", "https://", "npipe://")


def _check_values(
    name: str, values: Mapping[str, Any], variables: Mapping[str, Mapping[str, str]], *, file: str, key: str
) -> None:
    """What the types alone do not catch, in the keys every environment has: one ``ConfigError`` each."""
    if not _DOCKER_NAME.fullmatch(name):
        raise ConfigError(
            f"environment name {name!r} is not valid for docker; use letters, digits, '_', '.' and '-'",
            file=file,
            key=key,
        )
    _check_image(values["image"], values["registry"], file=file, key=key)
    health_path = values["health_path"]
    if not health_path.startswith("/") or not health_path.isprintable() or " " in health_path:
        raise ConfigError(
            f"{health_path!r} must be a URL path starting with '/', e.g. \"/healthz\"",
            file=file,
            key=f"{key}.health_path",
        )
    region = values["region"]
    if region and not _REGION.fullmatch(region):
        raise ConfigError(f"{region!r} is not an AWS region name, e.g. us-east-1", file=file, key=f"{key}.region")
    for setting in ("timeout", "lock_ttl", "poll_interval"):
        # inf is no duration: a lock that never expires, a health check that never gives up.
        if setting in values and not 0 < values[setting] < math.inf:
            raise ConfigError(
                f"must be a positive number of seconds, got {values[setting]!r}", file=file, key=f"{key}.{setting}"
            )
    for table, entries in variables.items():  # env and secrets both become the container's variables
        for var, value in entries.items():
            _check_env_var(var, value, file=file, key=f"{key}.{table}")
    if values["target"] == "docker":
        _check_docker(values, file=file, key=key)
    else:
        _check_ecs(values, file=file, key=key)


def _check_image(image: str, registry: str, *, file: str, key: str) -> None:
    if not image:
        raise ConfigError(
            'is empty; set it to the image repository to deploy, e.g. image = "hello-service"',
            file=file,
            key=f"{key}.image",
        )
    parsed, problem = parse_reference(image)
    if parsed is None or parsed.tag or parsed.digest:
        why = problem or "has a tag or digest; give the repository only (the deploy picks the digest)"
        raise ConfigError(f"{image!r} {why}", file=file, key=f"{key}.image")
    if registry and (problem := registry_problem(registry)):
        raise ConfigError(f"{registry!r} {problem}", file=file, key=f"{key}.registry")
    protect(image, f"{registry.rstrip('/')}/{image}" if registry else "")  # public: never masked in output


def _check_env_var(var: str, value: str, *, file: str, key: str) -> None:
    # Docker and ECS take any name without "=", but no shell or program can read one with a space.
    if not var or "=" in var or "\0" in var or not var.isprintable() or any(ch.isspace() for ch in var):
        raise ConfigError(
            f"{var!r} is not an environment variable name; use letters, digits and '_'", file=file, key=key
        )
    if "\0" in value:
        raise ConfigError(
            "contains a NUL character, which no environment variable can hold", file=file, key=f"{key}.{var}"
        )
    size = len(f"{var}={value}".encode())
    if size >= _MAX_ENV_ENTRY:
        raise ConfigError(
            f"is {size} bytes; a process cannot start with an environment entry of {_MAX_ENV_ENTRY} bytes or more "
            "(Linux MAX_ARG_STRLEN); pass large data as a file or a volume",
            file=file,
            key=f"{key}.{var}",
        )


def _check_docker(values: Mapping[str, Any], *, file: str, key: str) -> None:
    port = values["port"]
    if not 1 <= port <= 65535:
        raise ConfigError(f"must be a TCP port from 1 to 65535, got {port}", file=file, key=f"{key}.port")
    container = values["container"]
    if container and not _DOCKER_NAME.fullmatch(container):
        raise ConfigError(
            f"{container!r} is not a valid container name; use letters, digits, '_', '.' and '-'",
            file=file,
            key=f"{key}.container",
        )
    host = values["host"]
    if not host or "://" in host or "/" in host or any(ch.isspace() for ch in host) or not host.isascii():
        raise ConfigError(
            f"{host!r} must be a host name or IP address (no scheme, port or path), e.g. 127.0.0.1",
            file=file,
            key=f"{key}.host",
        )
    docker_host = values["docker_host"]
    if docker_host and not docker_host.startswith(_DOCKER_HOST_SCHEMES):
        raise ConfigError(
            f"{docker_host!r} must be a Docker daemon URL, e.g. unix:///var/run/docker.sock or ssh://user@host",
            file=file,
            key=f"{key}.docker_host",
        )
    if not 0 <= values["stop_timeout"] < math.inf:
        raise ConfigError("must be zero or a positive number of seconds", file=file, key=f"{key}.stop_timeout")


def _check_ecs(values: Mapping[str, Any], *, file: str, key: str) -> None:
    for setting in ("cluster", "service"):
        if not values[setting].strip():
            raise ConfigError(f"is empty; set the ECS {setting} name or ARN", file=file, key=f"{key}.{setting}")
    bucket = values["history_bucket"]
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(
            f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')",
            file=file,
            key=f"{key}.history_bucket",
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


_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MEMORY = re.compile(r"^[0-9]+[bkmgBKMG]?$")


def _check_docker_settings(values: dict[str, Any], *, file: str, key: str) -> None:
    """The docker target's own keys: checked here, at config time, each mistake one line naming the key."""
    for name, low, high in (("bake", 0, None), ("bake_max_5xx", 0, 1), ("drain_timeout", 0.1, None)):
        number = values[name]
        if number < low or (high is not None and number > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"must be {span}, got {number!r}", file=file, key=f"{key}.{name}")
    for name, low in (("healthy_checks", 1), ("retain", 0), ("pids_limit", 0)):
        if values[name] < low:
            raise ConfigError(f"must be at least {low}, got {values[name]!r}", file=file, key=f"{key}.{name}")
    _check_limits(values, file=file, key=key)
    for name in ("command", "release_command"):
        command = values[name]
        if isinstance(command, list) and (not command or not all(isinstance(a, str) for a in command)):
            raise ConfigError(
                'must be a string or a non-empty list of strings, e.g. ["python", "-m", "app"]',
                file=file,
                key=f"{key}.{name}",
            )
        values[name] = shlex.split(command) if isinstance(command, str) else list(command)
    root = Path(file).parent
    values["volumes"] = _volumes(values["volumes"], root=root, file=file, key=key)
    files = [values["env_file"]] if isinstance(values["env_file"], str) else values["env_file"]
    if not all(isinstance(name, str) and name for name in files):
        raise ConfigError("must be a file name or a list of file names", file=file, key=f"{key}.env_file")
    # read when this environment is used (another environment's file may exist only on its deployers' machines)
    values["env_file"] = [str(root / name) for name in files]


def _check_limits(values: dict[str, Any], *, file: str, key: str) -> None:
    if values["cpus"] < 0:
        raise ConfigError(f"must be a positive number of CPUs, got {values['cpus']!r}", file=file, key=f"{key}.cpus")
    if isinstance(values["memory"], str) and values["memory"] and not _MEMORY.match(values["memory"]):
        raise ConfigError(
            f'must be bytes or a size like "512m" or "2g", got {values["memory"]!r}', file=file, key=f"{key}.memory"
        )


def _volumes(specs: list[Any], *, root: Path, file: str, key: str) -> list[tuple[str, str, str]]:
    """``(source, path, mode)`` for each entry; a bind mount's source made absolute (relative to the project)."""
    volumes: list[tuple[str, str, str]] = []
    for spec in specs:
        parts = spec.split(":") if isinstance(spec, str) else []
        if (
            len(parts) not in (2, 3)
            or not parts[1].startswith("/")
            or (len(parts) == 3 and parts[2] not in ("ro", "rw"))
        ):
            raise ConfigError(
                f'entry {spec!r} must be "name:/path", "/host/path:/path" or "./dir:/path", optionally ":ro"',
                file=file,
                key=f"{key}.volumes",
            )
        source = parts[0]
        if source.startswith(("/", ".")):
            source = str((root / source).resolve())
        elif not _VOLUME_NAME.match(source):
            raise ConfigError(
                f"volume name {source!r} may use letters, digits, _ . - only", file=file, key=f"{key}.volumes"
            )
        volumes.append((source, parts[1], parts[2] if len(parts) == 3 else "rw"))
    return volumes


def read_env_files(env: Environment) -> dict[str, str]:
    """The variables of the environment's ``env_file`` s, later files winning; a bad file is a ``ConfigError``."""
    found: dict[str, str] = {}
    for path in env.settings.get("env_file", []):
        found.update(_read_env_file(Path(path), file=env.file, key=f"{TABLE}.{env.name}.env_file"))
    return found


def _read_env_file(path: Path, *, file: str, key: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments and blank lines skipped, the value taken as it is, like docker's)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read env file {path}: {exc.strerror}", file=file, key=key) from exc
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.removeprefix("export ").partition("=")
        if not sep or not name.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got a line without one", file=file, key=key)
        found[name.strip()] = value
    return found


def load_environments(root: Path | None = None) -> dict[str, Environment]:
    """Every environment of the project at ``root`` (default: the project around the working directory)."""
    path = (root or find_root()) / PYPROJECT
    data = load(path)
    file = str(path)
    tables = table_at(data, TABLE, file=file)
    if not isinstance(tables, Mapping):
        raise ConfigError("must be a table of environments", file=file, key=TABLE)
    envs = {name: _parse(name, table, file=file) for name, table in tables.items()}
    check_trust_root(data, envs.values(), root=path.parent, file=file)
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
    _check_env_option(name, envs)
    chosen = default_environment(envs) if name is None else name
    if chosen is None:
        raise ConfigError(f"no default environment; pass --env, one of: {', '.join(sorted(envs))}", file=file)
    if chosen not in envs:
        near = difflib.get_close_matches(chosen, list(envs), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(
            f"unknown environment {chosen!r}; {hint}valid environments are: {', '.join(sorted(envs))}",
            file=file,
            key=TABLE,
        )
    return envs[chosen]


def _check_env_option(name: str | None, envs: Mapping[str, Environment]) -> None:
    """``--env ''`` (an unset CI variable, most often) is refused rather than read as "the default"."""
    if name is not None and not name.strip():
        raise ConfigError(
            f"--env is empty (an unset CI variable?); pass one of: {', '.join(sorted(envs))}, "
            "or leave --env out for the default environment"
        )
