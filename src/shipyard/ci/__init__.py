"""GitHub Actions workflows generated from the noxfile, and the check that they still match it.

``generate(root)`` writes ``.github/workflows/ci.yml`` (one job per default nox session, a Python matrix for
python-parametrized ones, a gate job) and, with ``[tool.shipyard.ci] deploy = true``, the deploy jobs and
``deploy.yml``. ``check(root)`` returns every ``Drift`` between those files and the noxfile: a session no job
runs, a job running a session that does not exist, a Python mismatch, a file edited by hand. See docs/ci.md.
"""

from __future__ import annotations

from shipyard.ci._config import CiConfig, load_config
from shipyard.ci._drift import Drift, DriftKind, Run, runs_in
from shipyard.ci._sessions import NoxSession, list_sessions, parse_listing
from shipyard.ci._workflows import (
    CI_WORKFLOW,
    DEPLOY_WORKFLOW,
    Workflow,
    check,
    diff,
    generate,
    load_project,
    render_workflows,
)

__all__ = [
    "CI_WORKFLOW",
    "DEPLOY_WORKFLOW",
    "CiConfig",
    "Drift",
    "DriftKind",
    "NoxSession",
    "Run",
    "Workflow",
    "check",
    "diff",
    "generate",
    "list_sessions",
    "load_config",
    "load_project",
    "parse_listing",
    "render_workflows",
    "runs_in",
]
