"""Deploys: an image, by digest, to a Docker host or an ECS service, with health checks and automatic rollback.

    from shipyard.deploy import get_environment, deploy
    result = deploy(get_environment("local"), "127.0.0.1:5000/hello-service@sha256:...")

Environments come from ``[tool.shipyard.environments.<name>]`` (see docs/deploy.md). docker-py and boto3 load only
when a target is used.
"""

from __future__ import annotations

from shipyard.deploy._config import Environment, get_environment, load_environments
from shipyard.deploy._flow import deploy, history, make_target, rollback, status
from shipyard.deploy._model import DeployResult, HistoryRecord, HistoryStore, Lock, Shipped, Target

__all__ = [
    "DeployResult",
    "Environment",
    "HistoryRecord",
    "HistoryStore",
    "Lock",
    "Shipped",
    "Target",
    "deploy",
    "get_environment",
    "history",
    "load_environments",
    "make_target",
    "rollback",
    "status",
]
