"""The stage graph: edges from what stages consume, checked before anything runs.

A cycle, an artifact nobody produces, two producers of one artifact or an ``after`` naming an unknown stage
are ``PlanError`` s raised by ``Graph.build``; a run never starts on a broken graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shipyard._errors import PipelineError
from shipyard.pipeline._model import StageResult, StageSpec, StageState

__all__ = ["Graph", "PlanError", "critical_path"]


class PlanError(PipelineError):
    """The pipeline cannot be planned: a cycle, a missing input or a duplicate producer."""

    exit_code = 2


@dataclass(frozen=True)
class Graph:
    """Stages in a deterministic topological order, with each stage's upstream stage names."""

    stages: Mapping[str, StageSpec]
    upstream: Mapping[str, tuple[str, ...]]
    producer: Mapping[str, str]
    order: tuple[str, ...]

    @classmethod
    def build(cls, specs: Iterable[StageSpec]) -> Graph:
        stages: dict[str, StageSpec] = {}
        for spec in specs:
            if spec.name in stages:
                raise PlanError(f"stage {spec.name!r} is defined twice; give each stage a unique name")
            stages[spec.name] = spec
        producer: dict[str, str] = {}
        for spec in stages.values():
            for artifact in spec.produces:
                if artifact in producer:
                    raise PlanError(
                        f"artifact {artifact!r} is produced by both {producer[artifact]!r} and {spec.name!r}; "
                        "rename one of them"
                    )
                producer[artifact] = spec.name
        upstream: dict[str, tuple[str, ...]] = {}
        for spec in stages.values():
            deps: list[str] = []
            for artifact in spec.consumes:
                if artifact not in producer:
                    known = ", ".join(sorted(producer)) or "none"
                    raise PlanError(
                        f"stage {spec.name!r} consumes {artifact!r}, which no stage produces "
                        f"(produced artifacts: {known})"
                    )
                deps.append(producer[artifact])
            for name in spec.after:
                if name not in stages:
                    raise PlanError(f"stage {spec.name!r} runs after {name!r}, which is not a stage of this pipeline")
                deps.append(name)
            upstream[spec.name] = tuple(dict.fromkeys(deps))
        order = _toposort(list(stages), upstream)
        return cls(stages=stages, upstream=upstream, producer=producer, order=order)

    def downstream(self, name: str) -> set[str]:
        """Every stage that depends on ``name``, directly or not."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for other, deps in self.upstream.items():
                if current in deps and other not in found:
                    found.add(other)
                    frontier.append(other)
        return found

    def select(self, targets: Sequence[str]) -> Graph:
        """The sub-graph needed to run ``targets`` (they and everything upstream)."""
        unknown = [t for t in targets if t not in self.stages]
        if unknown:
            raise PlanError(f"unknown stage {unknown[0]!r}; stages are: {', '.join(self.order)}")
        keep: set[str] = set()
        frontier = list(targets)
        while frontier:
            current = frontier.pop()
            if current not in keep:
                keep.add(current)
                frontier.extend(self.upstream[current])
        return Graph.build(self.stages[name] for name in self.order if name in keep)

    def describe(self) -> str:
        """The plan as text: one line per stage in run order, with its declared inputs and outputs."""
        lines = []
        for name in self.order:
            spec = self.stages[name]
            parts = [f"after: {', '.join(self.upstream[name])}" if self.upstream[name] else "first"]
            if spec.consumes:
                parts.append(f"consumes: {', '.join(spec.consumes)}")
            if spec.produces:
                parts.append(f"produces: {', '.join(spec.produces)}")
            if spec.project_files:
                parts.append("files: every git-tracked or untracked non-ignored file")
            if spec.files:
                parts.append(f"files: {', '.join(spec.files)}")
            if spec.exclude:
                parts.append(f"except: {', '.join(spec.exclude)}")
            if spec.env:
                parts.append(f"env: {', '.join(spec.env)}")
            flags = [flag for flag, on in (("cpu", spec.cpu), ("cached", spec.cache), ("retry", spec.retry)) if on]
            if spec.timeout:
                flags.append(f"timeout {spec.timeout:g}s")
            suffix = f" [{', '.join(flags)}]" if flags else ""
            lines.append(f"{name}{suffix}  ({'; '.join(parts)})")
        return "\n".join(lines)


def _toposort(names: list[str], upstream: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    # Depth-first, visiting stages in declaration order, so the order is stable and a cycle is named in full.
    done: set[str] = set()
    visiting: list[str] = []
    order: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            raise PlanError(f"stages form a cycle: {' -> '.join(cycle)}; remove one of these dependencies")
        visiting.append(name)
        for dep in upstream[name]:
            visit(dep)
        visiting.pop()
        done.add(name)
        order.append(name)

    for name in names:
        visit(name)
    return tuple(order)


def critical_path(graph: Graph, results: Mapping[str, StageResult]) -> list[str]:
    """The chain of stages that bounded the run's wall time (longest path by measured duration)."""
    best: dict[str, tuple[float, list[str]]] = {}
    for name in graph.order:
        result = results.get(name)
        ran = result is not None and result.state not in (StageState.PENDING, StageState.SKIPPED)
        own = result.duration if (result is not None and ran) else 0.0
        prior = max((best[dep] for dep in graph.upstream[name]), key=lambda item: item[0], default=(0.0, []))
        best[name] = (prior[0] + own, [*prior[1], name] if ran else list(prior[1]))
    if not best:
        return []
    return max(best.values(), key=lambda item: item[0])[1]
