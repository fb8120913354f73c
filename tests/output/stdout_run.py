"""A stage that prints its result to stdout while the live table runs: ``python stdout_run.py ROOT``."""

from __future__ import annotations

import asyncio
import sys

from shipyard import _logging
from shipyard.pipeline import Pipeline, StageContext, run_pipeline


def build_pipeline() -> Pipeline:
    pipeline = Pipeline("stdout")

    @pipeline.stage()
    async def emit(ctx: StageContext) -> None:
        for n in range(3):
            print(f"payload line {n}")  # the point: data for whoever reads stdout
            _logging.get_logger("images").info("tick", n=n)
            await asyncio.sleep(0.2)

    return pipeline


def main() -> None:
    _logging.configure()
    run_pipeline(build_pipeline(), root=sys.argv[1])


if __name__ == "__main__":
    main()
