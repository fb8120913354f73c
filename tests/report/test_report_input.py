"""``shipyard report`` on input it did not expect: corrupt run files, odd ``--since`` values, no browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

GOOD = {
    "pipeline": "check",
    "result": "passed",
    "started": "2026-12-01T10:00:00+00:00",
    "ended": "2026-12-01T10:00:01+00:00",
    "duration_s": 1.0,
    "critical_path": ["lint"],
    "stages": [
        {
            "name": "lint",
            "state": "passed",
            "started": "2026-12-01T10:00:00+00:00",
            "ended": "2026-12-01T10:00:01+00:00",
            "duration_s": 1.0,
            "cache": "miss",
        }
    ],
}


def report(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", "report", "--root", str(root), "--no-history", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_corrupt_run_files_are_skipped_and_named(tmp_path: Path) -> None:
    runs = tmp_path / ".shipyard" / "runs"
    runs.mkdir(parents=True)
    (runs / "20261201T100000.000000-check-1.json").write_text(json.dumps(GOOD))
    bad = {
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "binary.json": "\udcff\udcfe garbage",
        "list.json": "[]",
        "endless.json": json.dumps({**GOOD, "ended": None, "duration_s": 1e300}),
        "year-one.json": json.dumps({**GOOD, "started": "0001-01-01T00:00:00"}),
        "nan.json": json.dumps({**GOOD, "stages": [{**GOOD["stages"][0], "duration_s": float("nan")}]}),  # type: ignore[dict-item]
    }
    for name, text in bad.items():
        (runs / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    (runs / "a-directory.json").mkdir()
    (runs / "dangling.json").symlink_to(tmp_path / "nowhere")
    out = tmp_path / "r.html"
    proc = report(tmp_path, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "(1 runs, 0 deploys" in proc.stdout
    for name in [*bad, "a-directory.json", "dangling.json"]:
        assert f"shipyard report: skipped {name}: not a run report" in proc.stdout, (name, proc.stdout)


def test_since_too_far_back_is_one_line(tmp_path: Path) -> None:
    for value in ("99999999999999999999w", "9999999999d"):
        proc = report(tmp_path, "--since", value, "-o", str(tmp_path / "r.html"))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"shipyard: error: --since: {value!r} goes back before the year 1; give a shorter duration or a date"
        ]


def test_open_without_a_browser_says_so_and_does_not_hang(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY", "BROWSER"}}
    env["PATH"] = str(Path(sys.executable).parent)  # no xdg-open, no www-browser, no lynx
    out = tmp_path / "r.html"
    proc = report(tmp_path, "-o", str(out), "--open", env=env)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert proc.stderr.strip().splitlines() == [
        f"shipyard report: no browser found to open it; open {out.as_uri()} in one"
    ]


async def test_a_registered_secret_never_reaches_the_report(tmp_path: Path) -> None:
    from shipyard._report import build_report, write_report
    from shipyard._secrets import register_secret
    from shipyard.pipeline import Pipeline, RunOptions, StageContext

    secret = "report-secret-0f9e8d7c6b"
    register_secret(secret)
    pipeline = Pipeline("secretive")

    @pipeline.stage()
    async def login(ctx: StageContext) -> None:
        ctx.print(f"token {secret}")
        ctx.summary = f"logged in with {secret}"

    @pipeline.stage(after=["login"])
    async def push(ctx: StageContext) -> None:
        raise RuntimeError(f"denied for {secret}")

    await pipeline.run_async(RunOptions(root=tmp_path, reporters=[], environ={}), check=False)
    out = write_report(build_report(tmp_path / ".shipyard" / "runs"), tmp_path / "r.html")
    text = out.read_text()
    assert "logged in with ***" in text
    assert "denied for ***" in text
    assert secret not in text
    for run_file in (tmp_path / ".shipyard" / "runs").glob("*.json"):
        assert secret not in run_file.read_text()


def test_output_to_a_directory_or_nowhere_and_a_missing_root(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    proc = report(tmp_path, "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "report.html").is_file()  # into the directory, as cp would
    assert sorted(p.name for p in (tmp_path).iterdir() if p.name.endswith(".partial")) == []

    (tmp_path / "file").write_text("x")
    proc = report(tmp_path, "-o", str(tmp_path / "file" / "r.html"))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"shipyard: error: --output: cannot write {tmp_path / 'file' / 'r.html'}: ")

    proc = report(tmp_path / "nowhere", "-o", str(tmp_path / "r.html"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"shipyard: error: --root: {tmp_path / 'nowhere'} is not a directory"
