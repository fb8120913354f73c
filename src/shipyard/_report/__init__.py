"""``shipyard report``: one self-contained HTML file of where a project's pipeline time went and what it deployed.

It reads the run reports under ``.shipyard/runs`` and each environment's deploy history, and draws them with
plotly (the ``report`` extra: ``pip install 'shipyard[report]'``), whose JavaScript is inlined, so the file
opens offline and makes no network request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from shipyard._errors import ConfigError
from shipyard._report._data import ReportData, load_history, load_runs, parse_since

__all__ = ["ARTIFACT", "ReportData", "build_report", "ci_report", "parse_since", "write_report"]

#: The artifact name CI uploads the report under, and its path relative to the project root.
ARTIFACT = "shipyard-report"
CI_PATH = Path("reports") / "shipyard-report.html"


def build_report(
    runs_dir: Path,
    *,
    environments: Mapping[str, Any] | None = None,
    read_history: Callable[[Any], Iterable[Any]] | None = None,
    since: float | None = None,
) -> ReportData:
    """Collect what the report shows; ``read_history(env)`` returns an environment's history records."""
    runs, notes = load_runs(runs_dir, since=since)
    deploys: dict[str, Any] = {}
    if environments and read_history is not None:
        deploys, history_notes = load_history(environments, read_history, since=since)
        notes += history_notes
    return ReportData(runs=runs, deploys=deploys, notes=notes, since=since)


def write_report(data: ReportData, path: Path) -> Path:
    """Render ``data`` and write it to ``path`` atomically (a half-written report never replaces a good one)."""
    try:
        from shipyard._report._html import render

        text = render(data, generated=time.time())
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "plotly":
            raise ConfigError(
                "needs plotly: install the report extra (pip install 'shipyard[report]' or uv add 'shipyard[report]')",
                key="shipyard report",
            ) from None
        raise
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)  # gone already when it replaced the report
    return path


def ci_report(runs_dir: Path, environ: Mapping[str, str]) -> str:
    """Under GitHub Actions: write the runs' report to ``reports/shipyard-report.html`` and return the step summary's
    Markdown line linking the run's artifacts. Without plotly, the line says how to get the report instead."""
    root = runs_dir.parent.parent  # <root>/.shipyard/runs
    try:
        path = write_report(build_report(runs_dir), root / CI_PATH)
    except ConfigError:
        return "Run report: install the `report` extra (`shipyard[report]`) to get an HTML timeline of the runs."
    server, repo, run_id = (environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    where = (
        f"[the run's artifacts]({server}/{repo}/actions/runs/{run_id}#artifacts)" if repo and run_id else "artifacts"
    )
    return (
        f"Run report: `{CI_PATH.as_posix()}` ({path.stat().st_size / 1_000_000:.1f} MB, opens offline), "
        f"uploaded as the `{ARTIFACT}` artifact: {where}."
    )
