"""Which environments the generated workflows may deploy: those that exist and that CI can reach.

An ``ecs`` environment is deployable from CI (OIDC credentials to AWS). A ``docker`` environment is only when it
names a remote engine (``docker_host`` other than a local socket): the default engine is the machine that runs the
command, which on a CI runner is a throwaway VM, not your server.

A deploy job builds, pushes and so signs the image's provenance (docs/supply-chain.md): with a key, its step gets
the ``[tool.shipyard.signing] key-env`` variable from the repository (or environment) secret of that name; keyless
(``method = "sigstore"``), the job's ``id-token: write`` lets sigstore-python get the workflow's OIDC token. Both
are given to the deploy jobs only, the only jobs that push.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard._errors import ConfigError
from shipyard.ci._config import CiConfig

__all__ = ["DeployPlan", "deployable", "plan_deploys", "signing_env"]

_KEY = "tool.shipyard.ci"


@dataclass(frozen=True)
class DeployPlan:
    """``main``: deployed after the gate on pushes to main; ``tag``: on a ``v*`` tag; ``choices``: by dispatch."""

    main: str | None
    tag: str | None
    choices: tuple[str, ...]
    known: tuple[str, ...]  # every environment the project defines, deployable or not
    #: The deploy step's signing variables (``{"SHIPYARD_SIGNING_KEY": "${{ secrets.SHIPYARD_SIGNING_KEY }}"}``).
    signing: Mapping[str, str] = field(default_factory=dict)
    #: Keyless: the deploy job signs with its OIDC identity (it needs ``id-token: write``, which it has for AWS).
    keyless: bool = False


def deployable(target: str, settings: Mapping[str, object]) -> bool:
    if target == "ecs":
        return True
    host = str(settings.get("docker_host") or "")
    return bool(host) and not host.startswith(("unix://", "npipe://"))


def plan_deploys(root: Path, config: CiConfig) -> DeployPlan:
    """The deploys ``config`` asks for, checked against ``[tool.shipyard.environments]`` (one-line errors)."""
    from shipyard.deploy._config import load_environments

    envs = load_environments(root)
    file = str(root / "pyproject.toml")
    ready = tuple(name for name, env in envs.items() if deployable(env.target, env.settings))
    if not config.deploy:
        return DeployPlan(None, None, (), tuple(envs))
    if not ready:
        why = (
            f"none of {', '.join(sorted(envs))} is deployable from CI (an ecs target, or docker with a remote "
            "docker_host)"
            if envs
            else "no [tool.shipyard.environments.<name>] table exists"
        )
        raise ConfigError(f"deploy = true but {why}; add one or set deploy = false", file=file, key=f"{_KEY}.deploy")

    def pick(key: str, value: str, fallback: str) -> str | None:
        if not value:
            return fallback if fallback in ready else None
        if value not in envs:
            known = ", ".join(sorted(envs)) or "none"
            raise ConfigError(f"unknown environment {value!r}; defined: {known}", file=file, key=f"{_KEY}.{key}")
        if value not in ready:
            raise ConfigError(
                f"environment {value!r} deploys to this machine's Docker engine, which CI cannot reach; "
                f"choose one of {', '.join(ready)}",
                file=file,
                key=f"{_KEY}.{key}",
            )
        return value

    signing, keyless = signing_env(root)
    return DeployPlan(
        main=pick("deploy-main", config.deploy_main, "staging"),
        tag=pick("deploy-tag", config.deploy_tag, "production"),
        choices=ready,
        known=tuple(envs),
        signing=signing,
        keyless=keyless,
    )


def signing_env(root: Path) -> tuple[dict[str, str], bool]:
    """What a deploy step needs to sign: the key's variable from the secret of its name, or keyless (no secret).

    Nothing for a project without ``[tool.shipyard.signing]``: its pushes stay unsigned, as on a laptop.
    """
    from shipyard._pyproject import load
    from shipyard.attest._config import TABLE, signing_from

    file = str(root / "pyproject.toml")
    data = load(root / "pyproject.toml")
    if "signing" not in data.get("tool", {}).get("shipyard", {}):
        return {}, False
    signing = signing_from(data, root=root, file=file)
    if signing.method == "sigstore":
        return {}, True
    if signing.key_env.upper().startswith("GITHUB_"):
        raise ConfigError(
            f"{signing.key_env!r} cannot be a GitHub secret's name (GITHUB_ is reserved); rename it",
            file=file,
            key=f"{TABLE}.key-env",
        )
    return {signing.key_env: "${{ secrets." + signing.key_env + " }}"}, False
