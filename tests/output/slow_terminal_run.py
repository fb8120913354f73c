"""A pipeline whose stages log from worker threads while the live table is drawn slowly (a loaded machine).

Run as ``python slow_terminal_run.py ROOT``. Drawing the table is slowed down (rich's live render waits before it
yields), and the stages' first lines arrive just as the table's first automatic refresh is due: on a busy
machine this is when a log line and a refresh draw the table at the same time, and the header appears twice.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from typing import Any

import rich.live_render

from shipyard import _logging
from shipyard.pipeline import Pipeline, StageContext, run_pipeline

_draw = rich.live_render.LiveRender.__rich_console__


def _slow_draw(self: Any, console: Any, options: Any) -> Iterator[Any]:
    time.sleep(0.05)  # what a loaded machine does to a render
    yield from _draw(self, console, options)


rich.live_render.LiveRender.__rich_console__ = _slow_draw  # type: ignore[method-assign]


def build_pipeline() -> Pipeline:
    pipeline = Pipeline("slow-terminal")
    log = _logging.get_logger("images")

    def stage(index: int) -> None:
        @pipeline.stage(name=f"stage{index}")
        async def run(ctx: StageContext) -> None:
            def work() -> None:
                time.sleep(0.09 + 0.01 * index)  # the first lines land on the first refresh (1/8 s)
                for n in range(6):
                    log.info("tick", stage=f"stage{index}", n=n)
                    time.sleep(0.01)

            await asyncio.gather(asyncio.to_thread(work), asyncio.to_thread(work))
            ctx.summary = f"ticked {index}"

    for index in range(3):
        stage(index)
    return pipeline


def main() -> None:
    _logging.configure()
    run_pipeline(build_pipeline(), root=sys.argv[1])
    print("done")


if __name__ == "__main__":
    main()
