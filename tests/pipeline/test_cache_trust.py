"""The cache is tamper-proof: altered bytes, paths out of the root and secrets never make it back into a project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard._secrets import registry
from shipyard.pipeline import FileArtifact, LocalStore, Pipeline, RunOptions, StageContext, StageState

runs: list[str] = []


def _pipeline() -> Pipeline:
    p = Pipeline("p")

    @p.stage(files=["src/*.py"], env=["PIN"], produces="wheel", cache=True)
    async def build(ctx: StageContext) -> dict[str, object]:
        runs.append("build")
        out = ctx.root / "dist" / "app.whl"
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(b"wheel:" + (ctx.root / "src" / "app.py").read_bytes())
        return {"wheel": FileArtifact("dist/app.whl")}

    return p


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('v1')\n")
    runs.clear()
    return root


@pytest.fixture
def opts(project: Path, options: RunOptions) -> RunOptions:
    options.root = project
    return options


def _entry_path(project: Path) -> Path:
    (path,) = (project / ".shipyard" / "cache" / "entries").rglob("*.json")
    return path


def _rewrite(project: Path, change: object) -> None:
    path = _entry_path(project)
    raw = json.loads(path.read_bytes())
    change(raw)  # type: ignore[operator]
    path.write_text(json.dumps(raw))


async def _second_run(opts: RunOptions, project: Path) -> tuple[str, list[str]]:
    (project / "dist" / "app.whl").unlink(missing_ok=True)
    report = await _pipeline().run_async(opts)
    return report.stage("build").cache, report.warnings


async def test_an_altered_file_byte_is_a_miss_and_the_entry_is_dropped(project: Path, opts: RunOptions) -> None:
    import base64

    await _pipeline().run_async(opts)

    def alter(raw: dict[str, dict[str, dict[str, str]]]) -> None:
        blob = raw["files"]["dist/app.whl"]
        blob["data"] = base64.b64encode(b"wheel:print('malware')\n").decode()  # digest left as recorded

    _rewrite(project, alter)
    cache, warnings = await _second_run(opts, project)
    assert cache == "miss"
    assert runs == ["build", "build"]
    assert (project / "dist" / "app.whl").read_bytes() == b"wheel:print('v1')\n"  # rebuilt, not the altered bytes
    assert any("does not match the sha256 recorded" in w and "dropped" in w for w in warnings), warnings
    # The altered entry was replaced by the fresh run's entry, which now hits.
    cache, _ = await _second_run(opts, project)
    assert cache == "hit"
    assert runs == ["build", "build"]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../escaped.txt", "leaves the project root"),
        ("dist/../../escaped.txt", "leaves the project root"),
        ("/tmp/i10-escaped-absolute.txt", "is absolute"),
        (".git/hooks/post-checkout", "is inside .git"),
    ],
)
async def test_paths_outside_the_root_are_refused(project: Path, opts: RunOptions, path: str, why: str) -> None:
    import base64
    import hashlib

    await _pipeline().run_async(opts)
    data = b"planted"

    def plant(raw: dict[str, object]) -> None:
        files = raw["files"]
        assert isinstance(files, dict)
        files[path] = {"sha256": hashlib.sha256(data).hexdigest(), "data": base64.b64encode(data).decode()}

    _rewrite(project, plant)
    cache, warnings = await _second_run(opts, project)
    assert cache == "miss"
    assert any(why in w for w in warnings), warnings
    assert not (project.parent / "escaped.txt").exists()
    assert not Path("/tmp/i10-escaped-absolute.txt").exists()  # noqa: ASYNC240 - the point of the test


async def test_a_symlink_leading_out_of_the_root_is_refused(project: Path, opts: RunOptions, tmp_path: Path) -> None:
    await _pipeline().run_async(opts)
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "dist" / "app.whl").unlink()
    (project / "dist").rmdir()
    (project / "dist").symlink_to(outside)  # the restore would write through it
    report = await _pipeline().run_async(opts)
    assert any("through a symlink" in w for w in report.warnings), report.warnings
    assert report.stage("build").cache == "miss"
    assert list(outside.iterdir()) == [outside / "app.whl"]  # the stage itself wrote it; the cache did not
    assert report.stage("build").state is StageState.PASSED
    assert runs == ["build", "build"]
    assert any("is not cached" in w for w in report.warnings)  # nor is an output written through it


async def test_an_output_holding_a_secret_is_not_cached(project: Path, opts: RunOptions) -> None:
    registry.register("s3cr3t-token-value")
    try:
        (project / "src" / "app.py").write_text("TOKEN = 's3cr3t-token-value'\n")
        report = await _pipeline().run_async(opts)
        assert report.ok
        assert any("contain a registered secret" in w for w in report.warnings), report.warnings
        assert not (project / ".shipyard" / "cache" / "entries").exists()
        for written in (project / ".shipyard").rglob("*"):
            if written.is_file():
                assert b"s3cr3t-token-value" not in written.read_bytes(), written
    finally:
        registry.clear()


async def test_env_values_are_keyed_not_bare_sha256(project: Path, opts: RunOptions) -> None:
    import hashlib

    opts.environ = {"PIN": "4711"}
    await _pipeline().run_async(opts)
    last = json.loads((project / ".shipyard" / "cache" / "last" / "build.json").read_text())
    assert last["env"]["PIN"] != hashlib.sha256(b"4711").hexdigest()
    guesses = {hashlib.sha256(f"{n:04d}".encode()).hexdigest() for n in range(10000)}
    assert last["env"]["PIN"] not in guesses
    key_file = project / ".shipyard" / "cache" / "hmac.key"
    assert key_file.stat().st_mode & 0o077 == 0
    # Stable across runs (same cache key): still a hit.
    cache, _ = await _second_run(opts, project)
    assert cache == "hit"


async def test_a_store_that_fails_is_a_warning_and_the_report_is_written(project: Path, opts: RunOptions) -> None:
    blocker = project / "not-a-directory"
    blocker.write_text("")
    opts.store = LocalStore(blocker)  # every get and put fails with NotADirectoryError
    report = await _pipeline().run_async(opts)
    assert report.ok
    assert len(report.warnings) == 1, report.warnings
    assert "failed on get" in report.warnings[0]
    latest = json.loads((project / ".shipyard" / "runs" / "latest.json").read_text())
    assert latest["result"] == "passed"
    assert latest["warnings"] == report.warnings


async def test_the_signing_key_never_reaches_what_a_stage_runs(
    tmp_path: Path, options: RunOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_CACHE_SIGNING_KEY", "a-signing-key-of-32-characters!!")
    p = Pipeline("p")

    @p.stage()
    async def tests(ctx: StageContext) -> None:
        result = await ctx.run(["sh", "-c", 'echo "key=${SHIPYARD_CACHE_SIGNING_KEY:-absent} home=${HOME:+set}"'])
        ctx.summary = result.output.strip()

    report = await p.run_async(options)
    assert report.stage("tests").summary == "key=absent home=set"


class _FullDisk:
    """A store whose writes fail (a full disk): reads find nothing, every put raises."""

    shared = False

    def get(self, key: str) -> bytes | None:
        return None

    def put(self, key: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")


async def test_a_failing_write_is_one_warning_on_every_channel(project: Path, opts: RunOptions) -> None:
    import io

    from shipyard.pipeline import GitHubReporter

    out, summary = io.StringIO(), project / "summary.md"
    opts.store = _FullDisk()
    opts.reporters = [GitHubReporter(out, summary)]
    p = _pipeline()

    @p.stage(cache=True)
    async def second(ctx: StageContext) -> None:
        pass

    report = await p.run_async(opts)
    assert report.ok
    assert report.warnings == [
        "cache store _FullDisk failed on put (OSError: [Errno 28] No space left on device); treating every lookup "
        "as a miss and skipping writes"
    ]
    assert f"::warning title=pipeline p::{report.warnings[0]}" in out.getvalue()
    assert "⚠️ cache store _FullDisk failed on put" in summary.read_text()
    assert json.loads((project / ".shipyard" / "runs" / "latest.json").read_text())["result"] == "passed"
