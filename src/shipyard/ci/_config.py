"""``[tool.shipyard.ci]``: what the noxfile cannot say about CI (runner, machine set-up, reports, deploys)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard import _pyproject
from shipyard._errors import ConfigError
from shipyard._pyproject import Field

__all__ = ["CiConfig", "load_config"]

_KEY = "tool.shipyard.ci"

_FIELDS = {
    "noxfile": Field(str, default="noxfile.py", help="the noxfile CI runs, relative to the project root"),
    "runs-on": Field(str, default="ubuntu-24.04"),
    "uv-version": Field(str, default="", help="the uv version setup-uv installs; empty: setup-uv's default"),
    "setup": Field(str, default="", help="command that prepares a fresh machine, e.g. bash ci/bootstrap.sh"),
    "setup-sessions": Field(list, default=[]),
    "junit-sessions": Field(list, default=[]),
    "timeout-minutes": Field(int, default=30),
    "deploy": Field(bool, default=False),
}


@dataclass(frozen=True)
class CiConfig:
    """The validated ``[tool.shipyard.ci]`` table (every key optional)."""

    noxfile: str = "noxfile.py"
    runs_on: str = "ubuntu-24.04"
    uv_version: str = ""
    #: Run before the sessions in ``setup_sessions`` (and before a deploy): the same script a developer runs.
    setup: str = ""
    setup_sessions: tuple[str, ...] = ()
    #: Sessions that write ``reports/junit-<session>.xml`` under CI; each job uploads its file.
    junit_sessions: tuple[str, ...] = ()
    timeout_minutes: int = 30
    deploy: bool = False


def load_config(root: Path) -> CiConfig:
    """Read and validate ``[tool.shipyard.ci]`` from ``root/pyproject.toml``; a missing table means defaults."""
    path = root / "pyproject.toml"
    data = _pyproject.load(path)
    table = data.get("tool", {}).get("shipyard", {}).get("ci", {})
    values = _pyproject.validate_table(table, _FIELDS, file=str(path), key=_KEY)
    for key in ("setup-sessions", "junit-sessions"):
        if not all(isinstance(item, str) for item in values[key]):
            raise ConfigError("must be a list of session names (strings)", file=str(path), key=f"{_KEY}.{key}")
    if values["setup-sessions"] and not values["setup"]:
        raise ConfigError(
            "setup-sessions is set but setup is empty; add setup = 'bash ci/bootstrap.sh' (or your script)",
            file=str(path),
            key=f"{_KEY}.setup",
        )
    if values["timeout-minutes"] <= 0:
        raise ConfigError("must be a positive number of minutes", file=str(path), key=f"{_KEY}.timeout-minutes")
    return CiConfig(
        noxfile=values["noxfile"],
        runs_on=values["runs-on"],
        uv_version=values["uv-version"],
        setup=values["setup"],
        setup_sessions=tuple(values["setup-sessions"]),
        junit_sessions=tuple(values["junit-sessions"]),
        timeout_minutes=values["timeout-minutes"],
        deploy=values["deploy"],
    )
