"""Many stages at once, each logging long lines for a while: ``python many_stages_run.py ROOT STAGES SECONDS``."""

from __future__ import annotations

import asyncio
import sys

from shipyard import _logging
from shipyard.pipeline import Pipeline, StageContext, run_pipeline
from shipyard.pipeline._pipeline import Interrupted


def build_pipeline(stages: int, seconds: float) -> Pipeline:
    pipeline = Pipeline("many")
    log = _logging.get_logger("images")

    def stage(index: int) -> None:
        @pipeline.stage(name=f"stage-number-{index}")
        async def run(ctx: StageContext) -> None:
            for n in range(int(seconds * 10)):
                log.info("tick", n=n, text="y" * 200)
                await asyncio.sleep(0.1)
            ctx.summary = f"done {index}"

    for index in range(stages):
        stage(index)
    return pipeline


def main() -> None:
    _logging.configure()
    try:
        run_pipeline(build_pipeline(int(sys.argv[2]), float(sys.argv[3])), root=sys.argv[1])
    except Interrupted as error:  # as the CLI does: one line, exit 130
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    print("done")


if __name__ == "__main__":
    main()
