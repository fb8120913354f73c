"""The report as one self-contained HTML file: plotly's own JavaScript inlined once, one figure per chart.

plotly (the ``report`` extra) draws every chart; this module only says what to plot. Tables are plain HTML.
Every text is escaped for HTML; plotly encodes the figures' data as JSON itself.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable
from typing import Any

from shipyard._report._data import Deploy, ReportData, Run

__all__ = ["GANTT_RUNS", "render"]

#: Runs drawn as a timeline each (the newest); every run still enters the durations-over-time chart.
GANTT_RUNS = 30

_COLORS = {
    "passed": "#2e7d32",
    "cache hit": "#81c784",
    "failed": "#c62828",
    "cancelled": "#f9a825",
    "skipped": "#9e9e9e",
    "running": "#0277bd",
    "pending": "#bdbdbd",
}
_RESULT_COLORS = {"succeeded": "#2e7d32", "failed": "#c62828", "rolled-back": "#f9a825", "dry-run": "#9e9e9e"}
_CONFIG = {"displaylogo": False, "responsive": True}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1.05rem; }
.meta, .note { color: #666; font-size: 0.9rem; } .note { background: #fff8e1; padding: 0.3rem 0.6rem; }
table { border-collapse: collapse; font-size: 0.85rem; width: 100%; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #eee; vertical-align: top; }
td.mono { font-family: ui-monospace, monospace; word-break: break-all; }
.succeeded, .passed { color: #2e7d32; } .failed { color: #c62828; } .rolled-back, .interrupted { color: #b26a00; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _t(text: object) -> str:
    """Text for a plotly label: plotly reads ``<b>``, ``<a href>``, ``<br>`` in labels as markup and decodes
    entities, so a name with ``<`` or ``&`` is escaped to be shown as written."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _figure_html(figure: Any, div_id: str) -> str:
    import plotly.io as pio

    return str(pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id=div_id, config=_CONFIG))


def _category(state: str, cache: str) -> str:
    return "cache hit" if state == "cached" or cache == "hit" else state


def _gantt(run: Run, div_id: str) -> str:
    import plotly.graph_objects as go

    figure = go.Figure()
    timed = [s for s in run.stages if s.start is not None and s.end is not None]
    order = [_t(s.name) for s in run.stages]
    critical = set(run.critical_path)
    for category, color in _COLORS.items():
        stages = [s for s in timed if _category(s.state, s.cache) == category]
        if not stages:
            continue
        figure.add_trace(
            go.Bar(
                name=category,
                orientation="h",
                y=[_t(s.name) for s in stages],
                base=[(s.start or 0.0) - run.started for s in stages],
                x=[max((s.end or 0.0) - (s.start or 0.0), 0.001) for s in stages],
                marker={
                    "color": color,
                    "line": {
                        "color": ["#111" if s.name in critical else color for s in stages],
                        "width": [3 if s.name in critical else 0 for s in stages],
                    },
                },
                text=[f"{s.duration:.1f} s" + (" · critical" if s.name in critical else "") for s in stages],
                textposition="auto",
                customdata=[[_t(s.summary or s.error), _t(s.cache)] for s in stages],
                hovertemplate="%{y}: %{x:.2f} s from %{base:.2f} s<br>cache %{customdata[1]}"
                "<br>%{customdata[0]}<extra>" + category + "</extra>",
            )
        )
    path = " → ".join(run.critical_path) or "none"
    title = f"{run.pipeline}: {run.result} in {run.duration:.1f} s · critical path (outlined): {path}"
    figure.update_layout(
        title={"text": _t(title)},
        barmode="overlay",
        height=140 + 34 * max(len(order), 1),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        xaxis={"title": {"text": "seconds since the run started"}, "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": list(reversed(order)), "automargin": True},
        legend={"orientation": "h", "y": -0.25},
    )
    return _figure_html(figure, div_id)


def _durations(pipeline: str, runs: list[Run], div_id: str) -> str:
    import plotly.graph_objects as go

    figure = go.Figure()
    names: list[str] = []
    for run in runs:
        names += [s.name for s in run.stages if s.name not in names]
    for name in names:
        points = [(run, s) for run in runs for s in run.stages if s.name == name and s.start is not None]
        if not points:
            continue
        figure.add_trace(
            go.Scatter(
                name=_t(name),
                mode="lines+markers",
                x=[_iso(run.started) for run, _ in points],
                y=[s.duration for _, s in points],
                marker={
                    "size": 9,
                    "symbol": [
                        "x"
                        if s.state == "failed"
                        else "diamond-open"
                        if _category(s.state, s.cache) == "cache hit"
                        else "circle"
                        for _, s in points
                    ],
                },
                customdata=[[_t(s.state), _t(s.cache)] for _, s in points],
                # The name from the trace, never pasted into the template (a name may hold ``%{...}``).
                hovertemplate="%{x}<br>%{fullData.name}: %{y:.2f} s (%{customdata[0]}, cache %{customdata[1]})"
                "<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            name="whole run",
            mode="lines",
            line={"dash": "dot", "color": "#555"},
            x=[_iso(run.started) for run in runs],
            y=[run.duration for run in runs],
        )
    )
    figure.update_layout(
        title={"text": _t(f"{pipeline}: stage durations over {len(runs)} run(s) (◇ cache hit, x failed)")},
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"},
        xaxis={"type": "date"},
    )
    return _figure_html(figure, div_id)


def _deploy_chart(env: str, deploys: list[Deploy], div_id: str) -> str:
    import plotly.graph_objects as go

    figure = go.Figure()
    for result, color in _RESULT_COLORS.items():
        chosen = [d for d in deploys if d.result == result]
        if not chosen:
            continue
        figure.add_trace(
            go.Bar(
                name=result,
                x=[_iso(d.started_at) for d in chosen],
                y=[d.duration for d in chosen],
                marker={"color": color},
                customdata=[[_t(d.action), _t(d.image), _t(d.previous_image or "nothing"), _t(d.who)] for d in chosen],
                hovertemplate="%{customdata[0]} %{customdata[1]}<br>replaced %{customdata[2]}<br>"
                "by %{customdata[3]}, %{y:.1f} s<extra>" + result + "</extra>",
            )
        )
    figure.update_layout(
        title={"text": _t(f"{env}: deploy durations")},
        height=300,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"},
        xaxis={"type": "date"},
    )
    return _figure_html(figure, div_id)


def _history_table(env: str, deploys: Iterable[Deploy]) -> str:
    rows = [
        "<tr>"
        f"<td>{_e(_when(d.started_at))}</td><td>{_e(d.action)}</td><td class='{_e(d.result)}'>{_e(d.result)}</td>"
        f"<td>{d.duration:.1f} s</td><td>{_e(d.who)}</td><td class='mono'>{_e(d.image)}</td>"
        f"<td class='mono'>{_e(d.previous_image or '-')}</td><td>{_e(d.reason)}</td>"
        "</tr>"
        for d in sorted(deploys, key=lambda d: d.started_at, reverse=True)
    ]
    head = "".join(
        f"<th>{h}</th>" for h in ("when", "action", "result", "duration", "who", "image", "replaced", "reason")
    )
    return f"<table id='history-{_e(env)}' class='history'><tr>{head}</tr>{''.join(rows)}</table>"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)


def render(data: ReportData, *, generated: float) -> str:
    """The whole report page."""
    from plotly.offline import get_plotlyjs

    body: list[str] = [
        "<h1>Shipyard report</h1>",
        f"<p class='meta'>generated {_e(_when(generated))}"
        + (f" · since {_e(_when(data.since))}" if data.since is not None else "")
        + f" · {len(data.runs)} run(s) · {sum(len(d) for d in data.deploys.values())} deploy(s)</p>",
    ]
    body += [f"<p class='note'>{_e(note)}</p>" for note in data.notes]

    body.append("<h2 id='runs'>Runs</h2>")
    if not data.runs:
        body.append("<p class='meta'>No run reports recorded (yet) in this period.</p>")
    newest = list(reversed(data.runs))[:GANTT_RUNS]
    if len(data.runs) > GANTT_RUNS:
        body.append(f"<p class='meta'>Timelines of the newest {GANTT_RUNS} of {len(data.runs)} runs.</p>")
    for index, run in enumerate(newest):
        hits = sum(1 for s in run.stages if _category(s.state, s.cache) == "cache hit")
        not_run = ", ".join(f"{s.name} ({s.state})" for s in run.stages if s.start is None)
        body.append(
            f"<h3 class='run {_e(run.result)}'>{_e(run.pipeline)} · {_e(_when(run.started))} · {_e(run.result)}"
            f" · {run.duration:.1f} s · {hits} of {len(run.stages)} stage(s) from the cache"
            + (f" · not run: {_e(not_run)}" if not_run else "")
            + "</h3>"
        )
        body.append(_gantt(run, f"gantt-{index}"))

    body.append("<h2 id='durations'>Stage durations over time</h2>")
    pipelines = sorted({run.pipeline for run in data.runs})
    for pipeline in pipelines:
        body.append(
            _durations(pipeline, [r for r in data.runs if r.pipeline == pipeline], f"durations-{_slug(pipeline)}")
        )

    body.append("<h2 id='deploys'>Deploys</h2>")
    if not data.deploys:
        body.append("<p class='meta'>No deploy history read.</p>")
    for env, deploys in data.deploys.items():
        body.append(f"<h3>{_e(env)}: {len(deploys)} deploy(s)</h3>")
        if deploys:
            body.append(_deploy_chart(env, deploys, f"deploys-{_slug(env)}"))
        body.append(_history_table(env, deploys))

    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>Shipyard report</title>"
        f"<style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script>"
        f"</head><body>{''.join(body)}</body></html>\n"
    )
