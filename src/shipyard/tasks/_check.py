"""``invoke check``: lint, typecheck and tests in parallel, then build, each the same nox session CI runs.

The stages and their cache inputs come from ``[tool.shipyard.check]`` in pyproject.toml (all keys optional):

    [tool.shipyard.check]
    parallel = ["lint", "typecheck", "tests"]   # nox sessions run side by side
    then = ["build"]                            # sessions run once all of those passed
    light = ["lint"]                            # sessions not bounded by the CPU limit
    files = ["src/**/*.py", "pyproject.toml"]   # declared inputs: their contents enter every stage's key
    env = ["CI"]                                # declared env vars: their values (hashed) enter the key
    outputs = { build = "dist/*" }              # files a session produces, restored on a cache hit
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.tasks._base import shipyard_task

if TYPE_CHECKING:
    from shipyard.pipeline import Pipeline, StageContext

__all__ = ["build_check_pipeline", "check"]

DEFAULT_FILES = [
    "pyproject.toml",
    "noxfile.py",
    "tasks.py",
    "src/**/*",
    "tests/**/*.py",
    "benchmarks/**/*.py",
    "ci/**/*",
    "examples/*/pyproject.toml",
    "examples/*/src/**/*.py",
    "examples/*/tests/**/*.py",
]


def _config(root: Path) -> dict[str, Any]:
    from shipyard._pyproject import Field, load, validate_table

    table = load(root / "pyproject.toml").get("tool", {}).get("shipyard", {}).get("check", {})
    return validate_table(
        table,
        {
            "parallel": Field(list, default=["lint", "typecheck", "tests"]),
            "then": Field(list, default=["build"]),
            "light": Field(list, default=["lint"]),
            "files": Field(list, default=DEFAULT_FILES),
            "env": Field(list, default=["CI"]),
            "outputs": Field(dict, default={"build": "dist/*"}),
        },
        file=str(root / "pyproject.toml"),
        key="tool.shipyard.check",
    )


def _session_stage(session: str, root: Path, outputs_glob: str | None) -> Any:
    async def body(ctx: StageContext) -> dict[str, Any] | None:
        from shipyard.pipeline import FileArtifact

        # The same command CI runs for this session, with this interpreter's nox.
        await ctx.run([sys.executable, "-m", "nox", "-s", session], cwd=ctx.root)
        ctx.summary = f"nox -s {session} passed"
        if outputs_glob is None:
            return None
        files = [FileArtifact(p.relative_to(ctx.root).as_posix()) for p in sorted(ctx.root.glob(outputs_glob))]
        return {f"{session}-outputs": [f for f in files if (ctx.root / f.path).is_file()]}

    body.__qualname__ = body.__name__ = f"session_{session}"
    return body


def build_check_pipeline(root: Path) -> Pipeline:
    """The check pipeline for the project at ``root`` (see the module docstring for its configuration)."""
    from shipyard.pipeline import Pipeline, stage

    config = _config(root)
    pipeline = Pipeline("check")
    for session in [*config["parallel"], *config["then"]]:
        outputs = config["outputs"].get(session)
        spec = stage(
            session,
            files=config["files"],
            env=config["env"],
            after=config["parallel"] if session in config["then"] else (),
            produces=[f"{session}-outputs"] if outputs else (),
            params={"session": session, "outputs": outputs},
            cpu=session not in config["light"],
            cache=True,
        )(_session_stage(session, root, outputs))
        pipeline.add(spec)
    return pipeline


@shipyard_task(
    help={
        "plan": "print the stage graph and exit without running anything",
        "no_cache": "run every stage even if its inputs are unchanged",
        "explain": "say which declared input changed for each cache miss",
        "keep_going": "after a failure, run every stage that does not depend on it",
    }
)
def check(c: Any, plan: bool = False, no_cache: bool = False, explain: bool = False, keep_going: bool = False) -> None:
    """Lint, typecheck and tests in parallel, then build: the nox sessions CI runs, cached by content."""
    from shipyard import _logging
    from shipyard._pyproject import find_root
    from shipyard.pipeline import RunOptions

    root = find_root()
    pipeline = build_check_pipeline(root)
    if plan:
        print(pipeline.plan())  # noqa: T201 - tasks are where output is printed
        return
    _logging.configure()
    report = pipeline.run(
        RunOptions(root=root, use_cache=not no_cache, explain=explain, keep_going=keep_going), check=False
    )
    # JSON asked for (--log-format json, SHIPYARD_LOG_FORMAT=json) means stderr is JSON lines only.
    json_only = _logging.json_requested()
    if _logging.output_mode() == "json" and not json_only:
        # The JSON events carry the output escaped; print it plainly so a human can read it (plain lines have it).
        for failed in report.failed:
            print(f"--- {failed.name} failed: {failed.error}\n{failed.output}", file=sys.stderr)  # noqa: T201
    if explain:
        for result in report.stages:
            if result.miss_reason and json_only:
                _logging.get_logger("pipeline").info("cache miss", stage=result.name, reason=result.miss_reason)
            elif result.miss_reason:
                print(f"{result.name}: cache miss: {result.miss_reason}", file=sys.stderr)  # noqa: T201
    if not report.ok:
        from shipyard.pipeline import StageFailed

        raise StageFailed(report)
