"""``invoke deploy --env X`` end to end, as stages on the pipeline engine: image -> push -> deploy -> verify.

``image`` builds the service's wheel (the build session's artifact) and the image (the classic builder's layer
cache makes an unchanged build quick). ``push`` is skipped when the registry already holds that digest.
``deploy`` is never cached. ``verify`` asks the target what runs and checks it is the deployed image.

SIGINT/SIGTERM make the pipeline cancel its stages. Each stage's work runs in a worker thread, where no signal
handler reaches it, so the stage trips the chain's ``Interrupts`` and waits for that work to wind down before the
cancellation goes on: a build stops at its next line of output, the deploy at its next phase or wait-loop check
(the target puts the previous version back, the journal records ``interrupted``). Nothing is swapped after
"interrupted".
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from typing import Any

from shipyard._errors import DeployError
from shipyard._pyproject import find_root
from shipyard.deploy._config import Environment
from shipyard.deploy._flow import deploy, make_target
from shipyard.deploy._interrupt import Interrupts
from shipyard.deploy._model import DeployResult

__all__ = ["deploy_chain", "pushed_reference", "run_interruptible", "stoppable_client"]

_MANIFESTS = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def pushed_reference(client: Any, image_id: str, repository: str) -> str | None:
    """``repository@sha256:...`` if this image was pushed there before and the registry still has it."""
    attrs = client.images.get(image_id).attrs
    for ref in attrs.get("RepoDigests") or []:
        repo, _, digest = ref.partition("@")
        if repo != repository:
            continue
        registry, _, name = repo.partition("/")
        request = urllib.request.Request(
            f"http://{registry}/v2/{name}/manifests/{digest}", method="HEAD", headers={"Accept": _MANIFESTS}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5) as response:
                if response.status == 200:
                    return str(ref)
        except OSError:
            return None
    return None


def stoppable_client() -> Any:
    """A docker-py low-level client whose streaming responses can be closed from the thread reading them."""
    import docker
    from docker.utils import kwargs_from_env

    from shipyard.images._client import DEFAULT_TIMEOUT

    class StoppableClient(docker.APIClient):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.streams: list[Any] = []

        def _stream_helper(self, response: Any, decode: bool = False) -> Any:
            self.streams.append(response)  # docker-py streams build output through here
            return super()._stream_helper(response, decode=decode)  # type: ignore[misc]

        def abort_streams(self) -> None:
            for response in self.streams:
                response.close()
            self.streams.clear()

    return StoppableClient(**kwargs_from_env(), timeout=DEFAULT_TIMEOUT)


async def run_interruptible(stop: Interrupts, work: Any, *args: Any, **kwargs: Any) -> Any:
    """``work(*args, **kwargs)`` in a worker thread; if this stage is cancelled, trip ``stop`` and wait for
    ``work`` to wind down (it checks ``stop``) before the cancellation goes on."""
    future = asyncio.get_running_loop().run_in_executor(None, lambda: work(*args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.trip("SIGINT or SIGTERM (pipeline cancelled)")
        while not future.done():  # a second signal cancels us again: keep waiting for the undo to finish
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        raise


def deploy_chain(env: Environment, *, dry_run: bool = False) -> DeployResult:
    """Build what is missing, push it, deploy it by digest, verify it. Returns the deploy's result."""
    from shipyard.images import build_image, load_image, push_image
    from shipyard.pipeline import ImageArtifact, Pipeline, StageContext, run_pipeline

    root = find_root()
    if not env.registry:
        raise DeployError(f"{env.file}: tool.shipyard.environments.{env.name}.registry: set it to deploy by digest")
    config = load_image(env.image, root=root)
    pipeline = Pipeline(f"deploy-{env.name}")
    outcome: dict[str, DeployResult] = {}
    interrupts = Interrupts()
    built_holder: dict[str, Any] = {}

    @pipeline.stage(produces="image", cpu=True)
    async def image(ctx: StageContext) -> dict[str, object]:
        # Each build event checks for a stop: an interrupted build ends at its next line of output, and closing
        # its stream makes the engine cancel the build (it would otherwise run on until the response is freed).
        client = stoppable_client()

        def on_event(_event: object) -> None:
            if interrupts.tripped:
                client.abort_streams()
                interrupts.check()

        try:
            built = await run_interruptible(
                interrupts, build_image, config, client=client, build_wheel=True, on_event=on_event
            )
        finally:
            client.close()
        built_holder["built"] = built
        ctx.summary = f"built {built.id[:19]}"
        return {"image": ImageArtifact(built.image, built.id)}

    @pipeline.stage(consumes="image", produces="reference")
    async def push(ctx: StageContext) -> dict[str, object]:
        import docker

        artifact = ctx.input("image")
        client = docker.from_env()
        repository = f"{env.registry.rstrip('/')}/{config.repository}"
        existing = await asyncio.to_thread(pushed_reference, client, artifact.digest, repository)
        if existing:
            ctx.summary = f"{existing} already in the registry: push skipped"
            return {"reference": existing}
        if dry_run:
            raise DeployError("dry-run: the image is not in the registry yet; deploy once, or pass --image")
        pushed = await run_interruptible(interrupts, push_image, built_holder["built"], env.registry)
        ctx.summary = f"pushed {pushed.reference}"
        return {"reference": pushed.reference}

    @pipeline.stage(name="deploy", consumes="reference", produces="result")
    async def deploy_stage(ctx: StageContext) -> dict[str, object]:
        result = await run_interruptible(
            interrupts, deploy, env, ctx.input("reference"), dry_run=dry_run, interrupts=interrupts
        )
        outcome["result"] = result
        ctx.summary = f"{result.result}: {result.image}"
        if not result.ok:  # failure reported as data: the stage, the run and its report must say so
            ctx.fail(f"deploy to {env.name!r} {result.result}: {result.reason}")
        return {"result": result.result}

    @pipeline.stage(consumes="result")
    async def verify(ctx: StageContext) -> None:
        result = outcome["result"]
        if not result.ok or dry_run:
            ctx.summary = "skipped"
            return
        info = await asyncio.to_thread(lambda: make_target(env).status())
        if info.get("image") != result.image or info.get("healthy") is False:
            raise DeployError(f"verify: {env.name} runs {info.get('image')!r}, expected {result.image!r}")
        ctx.summary = f"{env.name} serves {result.image}"

    return _deploy_result(run_pipeline(pipeline, root=root, check=False), outcome.get("result"))


def _deploy_result(report: Any, result: DeployResult | None) -> DeployResult:
    """The deploy's result, once the run's report says how it went; a run that failed elsewhere raises."""
    from shipyard.pipeline import StageFailed

    if result is None or (result.ok and report.result != "passed"):
        raise StageFailed(report)
    return result  # a failed deploy is the caller's to report (its run report already says failed)
