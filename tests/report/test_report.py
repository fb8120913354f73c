"""``shipyard report``: runs recorded by the real engine and deploy history kept on the real Docker engine,
rendered to one HTML file that headless Chromium opens with the network blocked."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.pipeline import Pipeline, RunOptions, StageContext, StageFailed

from ._chromium import open_page


def _pipeline(root: Path) -> Pipeline:
    p = Pipeline("check")

    @p.stage(files="src.txt", cache=True)
    async def lint(ctx: StageContext) -> None:
        await asyncio.sleep(0.05)
        ctx.summary = "lint clean"

    @p.stage(files="src.txt", cache=True)
    async def tests(ctx: StageContext) -> None:
        await asyncio.sleep(0.3)
        if (root / "src.txt").read_text() == "broken":
            raise RuntimeError("2 tests failed")

    @p.stage(after=["lint", "tests"])
    async def build(ctx: StageContext) -> None:
        await asyncio.sleep(0.1)

    return p


def record_runs(root: Path) -> None:
    """Three real runs: all from scratch, then lint and tests from the cache, then a failing change."""
    options = RunOptions(root=root, reporters=[], environ={})
    (root / "src.txt").write_text("v1")
    _pipeline(root).run(options)
    _pipeline(root).run(options)
    (root / "src.txt").write_text("broken")
    with pytest.raises(StageFailed):
        _pipeline(root).run(options)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "plain-app"\nversion = "1.0"\n')
    record_runs(root)
    return root


def shipyard(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.fixture
def history_env(project: Path, docker_client: Any) -> Iterator[str]:
    """An environment of ``project`` whose deploy history (kept on the Docker engine) holds four deploys."""
    from shipyard.deploy import HistoryRecord, get_environment, make_target

    name = f"rep-{uuid.uuid4().hex[:8]}"
    with (project / "pyproject.toml").open("a") as f:
        f.write(f'\n[tool.shipyard.environments.{name}]\ntarget = "docker"\nimage = "plain-app"\nport = 1\n')
    env = get_environment(name, root=project)
    store = make_target(env).history()
    now = time.time() - 3600
    v = [f"127.0.0.1:5999/plain-app@sha256:{c * 64}" for c in "abc"]
    for i, (image, previous, result, action, reason) in enumerate(
        [
            (v[0], "", "succeeded", "deploy", ""),
            (v[1], v[0], "failed", "deploy", "health check failed: /healthz answered 503"),
            (v[2], v[0], "succeeded", "deploy", ""),
            (v[0], v[2], "succeeded", "rollback", ""),
        ]
    ):
        store.append(  # a whole record, as the journal keeps one written by an earlier Shipyard
            {"kind": "record"}
            | HistoryRecord(
                deploy_id=f"d{i}",
                env=name,
                target="docker",
                image=image,
                started_at=now + 600 * i,
                duration=4.0 + i,
                result=result,
                who="alice@laptop",
                reason=reason,
                previous_image=previous,
                action=action,  # type: ignore[arg-type]
            ).to_dict()
        )
    yield name
    with contextlib.suppress(Exception):
        docker_client.containers.get(f"shipyard-state-{name}").remove(force=True)


def _section(dom: str, div_id: str) -> str:
    start = dom.index(f'id="{div_id}"')
    end = dom.find('<div id="', start + 10)
    return dom[start : end if end != -1 else len(dom)]


def test_the_report_renders_timelines_durations_and_history_offline(
    project: Path, history_env: str, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    proc = shipyard("report", "--env", history_env, "-o", str(out), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out} (3 runs, 4 deploys, ")
    text = out.read_text()
    # Self-contained: no script, stylesheet or image is loaded from anywhere.
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)

    page = open_page(out.as_uri(), tmp_path / "chromium")
    artifacts = os.environ.get("SHIPYARD_TEST_ARTIFACTS")
    if artifacts:
        shutil.copy(page.screenshot, Path(artifacts) / "report.png")
    assert page.screenshot.stat().st_size > 10_000
    assert page.external == [], page.external  # no request left the machine (and none was tried)
    dom = page.dom

    # One timeline per run, newest first, drawn by plotly (its SVG is in the DOM only once the JS ran).
    failed, cached, first = (_section(dom, f"gantt-{i}") for i in range(3))
    for gantt in (failed, cached, first):
        assert 'class="main-svg"' in gantt
        assert all(f">{stage}</text>" in gantt for stage in ("lint", "tests"))
    assert ">build</text>" in cached
    assert ">build</text>" not in failed  # never started: named in the run's heading instead
    assert re.search(r"failed · [\d.]+ s · 0 of 3 stage\(s\) from the cache · not run: build \(skipped\)", dom)
    assert ">cache hit</text>" in cached
    assert ">cache hit</text>" not in first
    assert ">failed</text>" in failed
    assert "critical path (outlined): tests → build" in first
    assert "check · " in dom
    assert "2 of 3 stage(s) from the cache" in dom

    durations = _section(dom, "durations-check")
    assert 'class="main-svg"' in durations
    assert ">whole run</text>" in durations

    chart = _section(dom, f"deploys-{history_env}")
    assert 'class="main-svg"' in chart
    assert ">failed</text>" in chart
    rows = re.findall(r"<tr>(.*?)</tr>", dom[dom.index(f'id="history-{history_env}"') :])
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows[1:5]]
    # Newest first: when, action, result, duration, who, image, what it replaced, reason.
    assert [c[1:5] for c in cells] == [
        ["rollback", "succeeded", "7.0 s", "alice@laptop"],
        ["deploy", "succeeded", "6.0 s", "alice@laptop"],
        ["deploy", "failed", "5.0 s", "alice@laptop"],
        ["deploy", "succeeded", "4.0 s", "alice@laptop"],
    ]
    assert cells[1][6].endswith("sha256:" + "a" * 64)  # v3 replaced v1
    assert cells[2][7] == "health check failed: /healthz answered 503"
    assert cells[3][6] == "-"


def test_a_page_that_loads_from_the_network_is_caught(tmp_path: Path) -> None:
    # The check above must be able to fail: a page with one external image and one fetch.
    page_file = tmp_path / "leaky.html"
    page_file.write_text('<img src="http://example.com/x.png"><script>fetch("https://example.org/y")</script>')
    page = open_page(page_file.as_uri(), tmp_path / "chromium", height=300)
    assert sorted(page.external) == ["http://example.com/x.png", "https://example.org/y"]


def test_since_limits_the_report_and_bad_input_is_one_line(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = shipyard("report", "--no-history", "--since", "1d", "-o", str(out), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "(3 runs, 0 deploys" in proc.stdout
    proc = shipyard("report", "--no-history", "--since", "2999-01-01", "-o", str(out), cwd=project)
    assert "(0 runs, 0 deploys" in proc.stdout
    assert "No run reports recorded (yet) in this period." in out.read_text()
    for args, message in (
        (["--since", "yesterday"], "shipyard: error: --since: cannot read 'yesterday': give a duration"),
        (["--env", "nowhere"], "shipyard: error: --env: no environment 'nowhere' (known: none)"),
    ):
        proc = shipyard("report", *args, "-o", str(out), cwd=project)
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith(message), proc.stderr


def test_a_tampered_run_file_and_a_dead_engine_become_notes(project: Path, tmp_path: Path) -> None:
    runs = project / ".shipyard" / "runs"
    (runs / "20000101T000000.000000-check-1.json").write_text('{"pipeline": "check", "stages": [')
    with (project / "pyproject.toml").open("a") as f:
        f.write(
            '\n[tool.shipyard.environments.gone]\ntarget = "docker"\nimage = "plain-app"\nport = 1\n'
            f'docker_host = "unix://{tmp_path}/no-such.sock"\n'
        )
    out = tmp_path / "r.html"
    proc = shipyard("report", "-o", str(out), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "(3 runs, 0 deploys" in proc.stdout
    assert "shipyard report: skipped 20000101T000000.000000-check-1.json: not a run report" in proc.stdout
    assert "shipyard report: deploy history of 'gone' unavailable: " in proc.stdout
    text = out.read_text()
    assert "deploy history of &#x27;gone&#x27; unavailable" in text
    assert 'id="gantt-2"' in text


def test_the_github_step_summary_keeps_its_gantt_and_links_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.pipeline import GitHubReporter

    for name, value in {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_RUN_ID": "42",
    }.items():
        monkeypatch.setenv(name, value)
    summary = tmp_path / "summary.md"
    (tmp_path / "src.txt").write_text("v1")
    reporter = GitHubReporter(stream=io.StringIO(), summary_path=summary)
    _pipeline(tmp_path).run(RunOptions(root=tmp_path, reporters=[reporter], environ={}))
    text = summary.read_text()
    assert "```mermaid\ngantt\n" in text
    assert "uploaded as the `shipyard-report` artifact: [the run's artifacts]" in text
    assert "(https://github.com/acme/app/actions/runs/42#artifacts)" in text
    html = (tmp_path / "reports" / "shipyard-report.html").read_text()
    assert 'id="gantt-0"' in html
