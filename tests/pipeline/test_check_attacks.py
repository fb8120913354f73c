"""Attacks on ``invoke check`` and the cache found by a second developer: each was a false pass or a leak."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shipyard.pipeline._cache import hash_project_files
from shipyard.testing import make_flat_project

INVOKE = str(Path(sys.executable).parent / "invoke")
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "protocol.file.allow=always"]


def _check(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")}
    return subprocess.run(
        [INVOKE, "check", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**base, "CI": "true", **env},
        check=False,
    )


def _git(cwd: Path, *argv: str) -> None:
    subprocess.run([*GIT, *argv], cwd=cwd, check=True, capture_output=True)


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _json_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


def test_a_project_inside_a_directory_an_enclosing_repo_ignores_is_still_hashed(tmp_path: Path) -> None:
    # A dotfiles repo in $HOME ignoring everything, or a checkout under another repo's ignored vendor/ directory:
    # git lists none of the project's files, which must not mean "nothing to hash".
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("vendor/\n")
    root = make_flat_project(tmp_path / "vendor" / "proj")
    subprocess.run(["rm", "-rf", str(root / ".git")], check=True)
    assert _check(root).returncode == 0
    (root / "app" / "__init__.py").write_text("def add(a, b):\n    return a - b\n")
    broken = _check(root, "--explain")
    assert broken.returncode == 1, broken.stderr
    assert "tests: cache miss: file app/__init__.py changed" in broken.stderr


def test_files_of_a_nested_repository_and_a_submodule_are_inputs(tmp_path: Path) -> None:
    root = make_flat_project(tmp_path / "proj")
    nested = root / "vendored"
    nested.mkdir()
    (nested / "lib.py").write_text("X = 1\n")
    _git(nested, "init", "-q")
    _git(nested, "add", "-A")
    _git(nested, "commit", "-q", "-m", "nested")
    _git(root, "submodule", "add", "-q", "./vendored", "sub")
    before = hash_project_files(root)
    assert "vendored/lib.py" in before
    assert "sub/lib.py" in before
    (nested / "lib.py").write_text("X = 2\n")
    (root / "sub" / "lib.py").write_text("X = 3\n")
    after = hash_project_files(root)
    assert after["vendored/lib.py"] != before["vendored/lib.py"]
    assert after["sub/lib.py"] != before["sub/lib.py"]
    # The nested repository's own ignore rules still apply.
    (nested / ".gitignore").write_text("*.log\n")
    (nested / "noise.log").write_text("x")
    assert "vendored/noise.log" not in hash_project_files(root)


def test_file_names_are_read_raw_not_redacted_or_lossily_decoded(tmp_path: Path) -> None:
    from shipyard._secrets import registry

    root = make_flat_project(tmp_path / "proj")
    odd = os.fsdecode(b"caf\xe9.py")  # not UTF-8: git prints the raw bytes
    (root / odd).write_text("X = 1\n")
    (root / "token-4f9a.py").write_text("X = 1\n")
    registry.register("token-4f9a")
    try:
        before = hash_project_files(root)
        assert odd in before, sorted(before)
        assert "token-4f9a.py" in before, sorted(before)
        (root / odd).write_text("X = 2\n")
        (root / "token-4f9a.py").write_text("X = 2\n")
        after = hash_project_files(root)
        assert after[odd] != before[odd]
        assert after["token-4f9a.py"] != before["token-4f9a.py"]
    finally:
        registry.clear()


def test_more_bad_check_config_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    root = make_flat_project(tmp_path / "flat")
    pyproject = root / "pyproject.toml"
    base = pyproject.read_text()
    cases = {
        # Each of these ran (a traceback, an internal error in every stage) or passed every change (no inputs).
        "[tool.shipyard.check]\nfiles = ['/etc/*']": "tool.shipyard.check.files: '/etc/*' must be a glob relative",
        "[tool.shipyard.check]\nfiles = ['../*']": "tool.shipyard.check.files: '../*' must be a glob relative",
        "[tool.shipyard.check]\nfiles = []": "tool.shipyard.check.files: must list at least one glob",
        "[tool.shipyard.check]\nparallel = ['lint', 'lint']": "tool.shipyard.check.parallel: 'lint' is listed twice",
        "[tool.shipyard]\ncheck = 5": "tool.shipyard.check: must be a table, got int",
        "[tool]\nshipyard = 1": "tool.shipyard: must be a table, got int",
    }
    for text, message in cases.items():
        pyproject.write_text(base + "\n" + text + "\n")
        result = _check(root)
        assert result.returncode == 2, (text, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (text, result.stderr)
        assert lines[0].startswith(f"invoke: error: {pyproject}: {message}"), (text, lines[0])
        assert not (root / ".shipyard" / "runs").exists()


async def test_a_stage_that_printed_a_registered_secret_is_not_cached(tmp_path: Path) -> None:
    from shipyard._secrets import registry
    from shipyard.pipeline import Pipeline, RunOptions, StageContext
    from shipyard.pipeline._cleanup import CleanupRegistry

    secret = "pr1nted-secret-value"
    p = Pipeline("p")

    @p.stage(cache=True)
    async def deploy_check(ctx: StageContext) -> None:
        await ctx.run(["sh", "-c", f"echo token={secret}"])
        ctx.summary = "printed it"

    registry.register(secret)
    try:
        options = RunOptions(root=tmp_path, reporters=[], environ={}, cleanup=CleanupRegistry())
        first = await p.run_async(options)
        assert first.ok
        assert any("not cached: its output contained a registered secret" in w for w in first.warnings), first.warnings
        assert not (tmp_path / ".shipyard" / "cache" / "entries").exists()
        second = await p.run_async(options)
        assert second.stage("deploy_check").cache == "miss"  # it runs again: its real output was never stored
        assert _files_holding(tmp_path, secret.encode()) == []
    finally:
        registry.clear()


async def test_an_output_file_that_is_a_symlink_out_of_the_root_is_not_stored(tmp_path: Path) -> None:
    # dist/app.whl -> ~/.aws/credentials: the store (perhaps a shared bucket) must never receive the target's bytes.
    from shipyard.pipeline import FileArtifact, Pipeline, RunOptions, StageContext
    from shipyard.pipeline._cleanup import CleanupRegistry

    outside = tmp_path / "outside" / "credentials"
    outside.parent.mkdir()
    outside.write_bytes(b"aws_secret_access_key = outside-the-root")
    root = tmp_path / "proj"
    (root / "dist").mkdir(parents=True)
    (root / "dist" / "app.whl").symlink_to(outside)
    p = Pipeline("p")

    @p.stage(produces="wheel", cache=True)
    async def build(ctx: StageContext) -> dict[str, object]:
        return {"wheel": FileArtifact("dist/app.whl")}

    report = await p.run_async(RunOptions(root=root, reporters=[], environ={}, cleanup=CleanupRegistry()))
    assert report.ok
    assert any("'build' is not cached" in w and "symlink" in w for w in report.warnings), report.warnings
    assert _files_holding(root / ".shipyard", b"outside-the-root") == []


def test_what_a_symlinked_input_points_at_is_hashed(tmp_path: Path) -> None:
    # A monorepo's shared module linked in (app/common -> ../../common): editing it must miss, git or not.
    shared = tmp_path / "common"
    shared.mkdir()
    (shared / "util.py").write_text("X = 1\n")
    (shared / "single.py").write_text("Y = 1\n")
    root = make_flat_project(tmp_path / "proj")
    (root / "app" / "common").symlink_to(shared)
    (root / "app" / "single.py").symlink_to(shared / "single.py")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "links")
    for git in (True, False):
        if not git:
            subprocess.run(["rm", "-rf", str(root / ".git")], check=True)
        before = hash_project_files(root)
        (shared / "util.py").write_text(f"X = {2 + git}\n")
        (shared / "single.py").write_text(f"Y = {2 + git}\n")
        after = hash_project_files(root)
        assert after["app/single.py"] != before["app/single.py"], git
        assert after.get("app/common/util.py") != before.get("app/common/util.py"), (git, sorted(after))


async def test_a_stage_name_with_slashes_or_dots_writes_only_inside_the_cache(tmp_path: Path) -> None:
    # nox session names are free text (`@nox.session(name="docs/html")`); `last/<stage>.json` must stay one file.
    from shipyard.pipeline import Pipeline, RunOptions, StageContext
    from shipyard.pipeline._cleanup import CleanupRegistry

    root = tmp_path / "a" / "b" / "proj"
    root.mkdir(parents=True)
    p = Pipeline("p")
    for name in ("docs/html", "../../../../escaped", ".."):

        @p.stage(name=name, cache=True)
        async def work(ctx: StageContext) -> None:
            return None

    options = RunOptions(root=root, reporters=[], environ={}, cleanup=CleanupRegistry(), explain=True)
    report = await p.run_async(options)
    assert report.ok, report.warnings
    assert report.warnings == []
    last = root / ".shipyard" / "cache" / "last"
    written = [
        f.parent for f in _json_files(tmp_path) if "/runs/" not in f.as_posix() and "/entries/" not in f.as_posix()
    ]
    assert written == [last] * 3
    for result in report.stages:  # --explain names the file that holds the full list
        assert result.inputs is not None
        listed = result.inputs.rpartition("full list: ")[2].rstrip(")")
        assert (root / listed).is_file(), listed


def test_a_session_added_in_a_module_the_noxfile_imports_is_run(tmp_path: Path) -> None:
    # The listing was cached on noxfile.py and pyproject.toml alone: a session defined in a helper module the
    # noxfile imports never became a stage, and the check passed without running it.
    root = make_flat_project(tmp_path / "flat")
    (root / "noxfile.py").write_text((root / "noxfile.py").read_text() + "\nfrom nox_extra import *  # noqa\n")
    (root / "nox_extra.py").write_text("import nox\n")
    assert _check(root).returncode == 0
    (root / "nox_extra.py").write_text(
        "import nox\n\n\n@nox.session(venv_backend='none')\ndef docs(session):\n    session.error('docs are broken')\n"
    )
    result = _check(root)
    assert result.returncode == 1, result.stderr
    assert "stage 'docs' failed" in result.stderr


def test_a_too_short_signing_key_is_a_config_error_exit_2(tmp_path: Path) -> None:
    root = make_flat_project(tmp_path / "flat")
    result = _check(root, SHIPYARD_CACHE_SIGNING_KEY="short")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == ["invoke: error: $SHIPYARD_CACHE_SIGNING_KEY is 5 characters; use at least 16 (32 random bytes)"]
    assert not (root / ".shipyard" / "runs").exists()


def test_a_failed_stages_output_cannot_close_the_step_summarys_code_block() -> None:
    import re
    import time

    from shipyard.pipeline import RunReport, StageState
    from shipyard.pipeline._model import StageResult
    from shipyard.pipeline._report import markdown_summary

    now = time.time()
    failed = StageResult("tests|x", state=StageState.FAILED, start=now, end=now + 1)
    failed.output = "```\n</details>\n\n### Pipeline `check`: passed\n````"
    report = RunReport(pipeline="check", started=now, ended=now + 1, result="failed", stages=[failed])
    text = markdown_summary(report)
    fence = re.search(r"^(`{3,})$", text.split("<details>", 1)[1], re.MULTILINE)
    assert fence is not None
    assert len(fence.group(1)) > 4  # longer than any run of backticks in the output
    body = text.split("<details>", 1)[1].split(fence.group(1))[1]
    assert "### Pipeline `check`: passed" in body  # the fake heading stays inside the code block
    assert "| tests\\|x |" in text  # a "|" in a name does not add a table column


def test_the_default_build_output_is_not_excluded_when_there_is_no_build_session(tmp_path: Path) -> None:
    # `dist/*` is build's output by default; a project without a build session may keep sources there.
    root = make_flat_project(tmp_path / "flat")
    (root / "dist").mkdir()
    (root / "dist" / "data.py").write_text("X = 1\n")
    assert _check(root).returncode == 0
    (root / "dist" / "data.py").write_text("X = 2\n")
    explained = _check(root, "--explain")
    assert "tests: cache miss: file dist/data.py changed" in explained.stderr, explained.stderr
