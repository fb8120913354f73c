"""``Pipeline``: where stages are declared, planned and run (with SIGINT/SIGTERM handling)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from shipyard._errors import PipelineError
from shipyard.pipeline._graph import Graph
from shipyard.pipeline._model import Retry, StageFunction, StageSpec
from shipyard.pipeline._report import RunReport
from shipyard.pipeline._runner import RunOptions, execute

__all__ = ["Interrupted", "Pipeline", "StageFailed", "run_pipeline", "stage"]


class StageFailed(PipelineError):
    """A run finished with failed stages; ``report`` holds every stage's result and output."""

    def __init__(self, report: RunReport) -> None:
        self.report = report
        failed = report.failed
        if not failed:  # no stage failed, yet not every stage passed (cancelled or skipped)
            others = [r.name for r in report.stages if r.state.value not in ("passed", "cached")]
            super().__init__(f"pipeline {report.pipeline!r} {report.result}: not run to the end: {', '.join(others)}")
            return
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        super().__init__(f"stage {first.name!r} failed{more}: {first.error}")


class Interrupted(PipelineError):
    """The run was stopped by SIGINT or SIGTERM; running stages were cancelled and cleaned up."""

    exit_code = 130


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def stage(
    name: str | None = None,
    *,
    files: str | Iterable[str] = (),
    project_files: bool = False,
    exclude: str | Iterable[str] = (),
    env: str | Iterable[str] = (),
    consumes: str | Iterable[str] = (),
    after: str | Iterable[str] = (),
    produces: str | Iterable[str] = (),
    params: Mapping[str, Any] | None = None,
    tools: Mapping[str, str | tuple[str, ...]] | None = None,
    cpu: bool = False,
    cache: bool = False,
    timeout: float | None = None,
    retry: Retry | None = None,
    version: str = "",
) -> Callable[[StageFunction], StageSpec]:
    """Declare an async function as a stage (see ``StageSpec`` for what each argument means)."""

    def decorate(function: StageFunction) -> StageSpec:
        return StageSpec(
            name=name or function.__name__,
            function=function,
            files=_names(files),
            project_files=project_files,
            exclude=_names(exclude),
            env=_names(env),
            consumes=_names(consumes),
            after=_names(after),
            produces=_names(produces),
            params=dict(params or {}),
            tools=dict(tools or {}),
            cpu=cpu,
            cache=cache,
            timeout=timeout,
            retry=retry,
            version=version,
            description=(function.__doc__ or "").strip().split("\n")[0],
        )

    return decorate


class Pipeline:
    """A named set of stages. Declare with ``@pipeline.stage(...)`` (or ``add``), then ``run``."""

    def __init__(self, name: str, stages: Iterable[StageSpec] = ()) -> None:
        self.name = name
        self._stages: list[StageSpec] = list(stages)

    def add(self, spec: StageSpec) -> StageSpec:
        self._stages.append(spec)
        return spec

    def stage(self, name: str | None = None, **declared: Any) -> Callable[[StageFunction], StageSpec]:
        """Like ``shipyard.pipeline.stage``, and adds the stage to this pipeline."""

        def decorate(function: StageFunction) -> StageSpec:
            return self.add(stage(name, **declared)(function))

        return decorate

    @property
    def stages(self) -> list[StageSpec]:
        return list(self._stages)

    def replace(self, name: str, **changes: Any) -> None:
        """Change a declared stage (e.g. its timeout) before a run."""
        for i, spec in enumerate(self._stages):
            if spec.name == name:
                self._stages[i] = replace(spec, **changes)
                return
        raise PipelineError(f"pipeline {self.name!r} has no stage {name!r}")

    def graph(self, targets: Sequence[str] | None = None) -> Graph:
        """The checked graph (cycles, missing inputs raise ``PlanError``), limited to ``targets`` and upstream."""
        graph = Graph.build(self._stages)
        return graph.select(targets) if targets else graph

    def plan(self, targets: Sequence[str] | None = None) -> str:
        """The dry-run view printed by ``--plan``."""
        graph = self.graph(targets)
        return f"pipeline {self.name}: {len(graph.order)} stages\n{graph.describe()}"

    async def run_async(
        self, options: RunOptions | None = None, *, targets: Sequence[str] | None = None, check: bool = True
    ) -> RunReport:
        """Run in the current event loop. ``check`` raises ``StageFailed`` when a stage failed."""
        report = await execute(self.name, self.graph(targets), options or RunOptions())
        if check and not report.ok:
            raise StageFailed(report)
        return report

    def run(
        self, options: RunOptions | None = None, *, targets: Sequence[str] | None = None, check: bool = True
    ) -> RunReport:
        """Run in a new event loop; SIGINT/SIGTERM cancel the run, clean up and raise ``Interrupted`` (exit 130)."""
        graph = self.graph(targets)  # plan errors surface before a loop or a signal handler exists
        return asyncio.run(_run_with_signals(self.name, graph, options or RunOptions(), check))


async def _run_with_signals(name: str, graph: Graph, options: RunOptions, check: bool) -> RunReport:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        main.cancel()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or not supported here
            pass
    try:
        report = await execute(name, graph, options)
    except asyncio.CancelledError:
        if received:
            raise Interrupted(f"pipeline {name!r} interrupted by {signal.Signals(received[0]).name}") from None
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    if check and not report.ok:
        raise StageFailed(report)
    return report


def run_pipeline(
    pipeline: Pipeline,
    *,
    targets: Sequence[str] | None = None,
    root: Path | str | None = None,
    check: bool = True,
    **options: Any,
) -> RunReport:
    """Run ``pipeline`` from synchronous code (tasks, CLI). Keyword options are ``RunOptions`` fields."""
    run_options = RunOptions(root=Path(root) if root is not None else Path.cwd(), **options)
    return pipeline.run(run_options, targets=targets, check=check)
