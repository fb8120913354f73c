"""A small pipeline for the output tests: several stages, log lines, build steps, push progress, deploy phases.

Run as ``python demo_run.py ROOT [--log-format FMT] [--secret VALUE]``; it logs through the real output layer
(``shipyard._logging.configure``) and runs the real pipeline engine, so what a terminal shows is what a user sees.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from shipyard import _logging, _output
from shipyard._secrets import register_secret
from shipyard.pipeline import Pipeline, StageContext, run_pipeline

STEP = float(os.environ.get("SHIPYARD_DEMO_STEP", "0.15"))


def build_pipeline(secret: str) -> Pipeline:
    pipeline = Pipeline("deploy-demo")
    log = _logging.get_logger("images")
    deploy_log = _logging.get_logger("shipyard.deploy")

    @pipeline.stage(produces="image")
    async def image(ctx: StageContext) -> dict[str, object]:
        for step in range(1, 6):
            log.info("image.build.step", image="demo", step=step, total=5, text=f"RUN echo step {step}")
            ctx.print(f"output of step {step}")
            await asyncio.sleep(STEP)
        ctx.summary = "built sha256:0123456789ab"
        return {"image": "demo:1"}

    @pipeline.stage(consumes="image", produces="reference")
    async def push(ctx: StageContext) -> dict[str, object]:
        def send() -> None:
            for sent in range(1, 9):
                _output.progress(
                    "image.push.progress",
                    image="demo",
                    layers_done=sent // 2,
                    layers=4,
                    bytes_done=sent * 1_000_000,
                    bytes_total=8_000_000,
                )
                time.sleep(STEP / 2)
            log.info("image.push.done", image="demo", reference="127.0.0.1:1/demo@sha256:abc")

        await asyncio.to_thread(send)
        ctx.summary = "pushed 127.0.0.1:1/demo@sha256:abc"
        return {"reference": "127.0.0.1:1/demo@sha256:abc"}

    @pipeline.stage(name="deploy", consumes="reference")
    async def deploy_stage(ctx: StageContext) -> None:
        deploy_log.info("deploy.start", env="local", image="demo@sha256:abc", deploy_id="d1")
        deploy_log.warning("demo.note", env="local", note=f"the token is {secret}")
        for phase in ("starting", "started", "healthy", "switched", "baked", "drained"):
            deploy_log.info("deploy.phase", env="local", deploy_id="d1", phase=phase, previous="demo-old")
            await asyncio.sleep(STEP)
        deploy_log.info("deploy.end", env="local", deploy_id="d1", result="succeeded", duration=1.2)
        ctx.summary = "succeeded: demo@sha256:abc"

    return pipeline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--log-format", default="")
    parser.add_argument("--secret", default="")
    args = parser.parse_args()
    if args.secret:
        register_secret(args.secret)
    if args.log_format:
        _logging.set_format(args.log_format)
    _logging.configure()
    run_pipeline(build_pipeline(args.secret), root=args.root)
    print("done")


if __name__ == "__main__":
    main()
