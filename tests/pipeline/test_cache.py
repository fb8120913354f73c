"""The content-addressed cache: hits skip and restore, declared inputs miss with a reason, undeclared don't."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.pipeline import FileArtifact, Pipeline, RunOptions, StageContext, StageState

runs: list[str] = []


def build_pipeline() -> Pipeline:
    p = Pipeline("p")

    @p.stage(files=["src/*.py"], env=["MODE"], produces="wheel", cache=True)
    async def build(ctx: StageContext) -> dict[str, object]:
        runs.append("build")
        out = ctx.root / "dist" / "app.whl"
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(b"wheel:" + (ctx.root / "src" / "app.py").read_bytes())
        ctx.summary = "built app.whl"
        ctx.print("compiling app.py")
        return {"wheel": FileArtifact("dist/app.whl")}

    @p.stage(consumes="wheel", cache=True)
    async def test(ctx: StageContext) -> None:
        runs.append("test")
        assert (ctx.root / ctx.input("wheel").path).read_bytes().startswith(b"wheel:")

    return p


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('v1')\n")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    runs.clear()
    return tmp_path


async def test_second_run_hits_and_restores_outputs_and_summary(project: Path, options: RunOptions) -> None:
    first = await build_pipeline().run_async(options)
    assert runs == ["build", "test"]
    assert first.stage("build").cache == "miss"
    (project / "dist" / "app.whl").unlink()

    second = await build_pipeline().run_async(options)
    assert runs == ["build", "test"]  # nothing ran again
    build = second.stage("build")
    assert (build.state, build.cache) == (StageState.CACHED, "hit")
    assert build.summary == "built app.whl"
    assert build.output == "compiling app.py"
    assert build.outputs == {"wheel": FileArtifact("dist/app.whl")}
    assert (project / "dist" / "app.whl").read_bytes() == b"wheel:print('v1')\n"
    assert second.stage("test").cache == "hit"


async def test_touching_a_declared_input_misses_and_explain_names_it(project: Path, options: RunOptions) -> None:
    options.explain = True
    await build_pipeline().run_async(options)
    (project / "src" / "app.py").write_text("print('v2')\n")
    report = await build_pipeline().run_async(options)
    assert runs == ["build", "test", "build", "test"]
    assert report.stage("build").miss_reason == "file src/app.py changed"
    assert report.stage("test").miss_reason == "upstream stage build changed"


async def test_env_lockfile_and_added_files_explain(project: Path, options: RunOptions) -> None:
    options.explain = True
    options.environ = {"MODE": "debug"}
    await build_pipeline().run_async(options)
    options.environ = {"MODE": "release"}
    report = await build_pipeline().run_async(options)
    assert report.stage("build").miss_reason == "env var MODE changed"
    (project / "uv.lock").write_text("version = 2\n")
    report = await build_pipeline().run_async(options)
    assert report.stage("build").miss_reason == "uv.lock changed"
    (project / "src" / "new.py").write_text("")
    report = await build_pipeline().run_async(options)
    assert report.stage("build").miss_reason == "file src/new.py was added"


async def test_undeclared_file_does_not_enter_the_key(project: Path, options: RunOptions) -> None:
    await build_pipeline().run_async(options)
    (project / "README.md").write_text("changed, but no stage declared it\n")
    (project / "src" / "__pycache__").mkdir()
    (project / "src" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    report = await build_pipeline().run_async(options)
    assert report.stage("build").cache == "hit"
    assert runs == ["build", "test"]


async def test_no_cache_forces_a_run(project: Path, options: RunOptions) -> None:
    await build_pipeline().run_async(options)
    options.use_cache = False
    report = await build_pipeline().run_async(options)
    assert runs == ["build", "test", "build", "test"]
    assert report.stage("build").cache == "forced"


async def test_code_change_misses(project: Path, options: RunOptions) -> None:
    options.explain = True
    await build_pipeline().run_async(options)
    p = build_pipeline()
    p.replace("build", version="2")
    report = await p.run_async(options)
    assert report.stage("build").miss_reason == "the stage's code or version changed"


async def test_failed_stage_is_not_cached(project: Path, options: RunOptions) -> None:
    attempts: list[int] = []
    p = Pipeline("p")

    @p.stage(cache=True)
    async def flaky(ctx: StageContext) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first run fails")

    await p.run_async(options, check=False)
    report = await p.run_async(options)
    assert report.stage("flaky").cache == "miss"
    assert len(attempts) == 2


def test_a_recursive_glob_finds_what_path_glob_finds_outside_tool_directories(tmp_path: Path) -> None:
    """``files = ["**/*.py"]`` walks the tree once without entering .venv/.nox (whose files are never inputs):
    every other match Path.glob makes is still an input, at every depth, hidden directories and links included;
    a change in a matched file changes the key, one under .venv does not."""
    from shipyard.pipeline._cache import _file_digest, _skipped, hash_files

    for rel in (
        "a.py",
        "pkg/b.py",
        "pkg/deep/er/c.py",
        ".github/scripts/d.py",
        "pkg/notes.txt",
        ".venv/lib/site.py",
        ".nox/lint/lib/x.py",
        "pkg/.venv/y.py",
        "pkg/__pycache__/b.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "e.py").write_text("e")
    (tmp_path / "pkg" / "link.py").symlink_to(tmp_path / "a.py")
    (tmp_path / "pkg" / "via").symlink_to(tmp_path / "linked", target_is_directory=True)
    (tmp_path / "dir.py").mkdir()  # a directory named like a file is no input
    globs = ("**/*.py", "pkg/*.txt", "**/via")

    def by_path_glob() -> dict[str, str]:
        found: dict[str, str] = {}
        for pattern in globs:
            for path in sorted(tmp_path.glob(pattern)):
                rel = path.relative_to(tmp_path)
                digest = _file_digest(path)
                if rel.as_posix() not in found and not _skipped(rel.parts) and digest is not None:
                    found[rel.as_posix()] = digest
        return dict(sorted(found.items()))

    hashed = hash_files(tmp_path, globs)
    # And the files under a symlinked directory (Path.glob does not enter it; see the next test).
    assert hashed == {**by_path_glob(), "pkg/via/e.py": _file_digest(tmp_path / "linked" / "e.py")}
    assert {"a.py", "pkg/b.py", "pkg/deep/er/c.py", ".github/scripts/d.py", "pkg/link.py", "pkg/via"} <= set(hashed)
    assert not [name for name in hashed if ".venv" in name or ".nox" in name or "__pycache__" in name]
    (tmp_path / ".venv" / "lib" / "site.py").write_text("changed")
    assert hash_files(tmp_path, globs) == hashed
    (tmp_path / "pkg" / "deep" / "er" / "c.py").write_text("changed")
    assert hash_files(tmp_path, globs) != hashed


def test_a_recursive_glob_keys_the_files_under_a_symlinked_directory_leading_out(tmp_path: Path) -> None:
    """A package linked in from outside the project (a monorepo's shared code) is imported by the tests and read
    by mypy: its files are inputs under ``**/*.py`` as they are for a session keyed on every project file (links
    inside it are not followed, so a link to / or a loop costs one level)."""
    from shipyard.pipeline._cache import hash_files

    root, shared = tmp_path / "app", tmp_path / "shared"
    (root / "src" / "app").mkdir(parents=True)
    (root / "src" / "app" / "__init__.py").write_text("")
    (shared / "inner").mkdir(parents=True)
    (shared / "util.py").write_text("X = 1\n")
    (shared / "inner" / "deep.py").write_text("Y = 1\n")
    (shared / "loop").symlink_to(tmp_path, target_is_directory=True)
    (root / "src" / "app" / "shared").symlink_to(shared, target_is_directory=True)

    hashed = hash_files(root, ("**/*.py",))
    assert {"src/app/shared/util.py", "src/app/shared/inner/deep.py"} <= set(hashed)
    assert not [name for name in hashed if "/loop/" in name]
    (shared / "inner" / "deep.py").write_text("Y = 2\n")
    assert hash_files(root, ("**/*.py",)) != hashed
