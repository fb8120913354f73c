"""The ASGI application: two endpoints, nothing else."""

from __future__ import annotations

import os
from importlib.metadata import version

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_app(environ: dict[str, str] | None = None) -> Starlette:
    """Build the app from the environment (`APP_REVISION`, `APP_FAIL_HEALTH`, `APP_GREETING`)."""
    env = dict(os.environ if environ is None else environ)
    info = {
        "service": "hello-service",
        "version": version("hello-service"),
        "revision": env.get("APP_REVISION", "unknown"),
    }
    # A deliberately unhealthy instance lets deploy tests prove that rollback keeps the old one serving.
    healthy = env.get("APP_FAIL_HEALTH", "") not in {"1", "true", "yes"}

    async def healthz(_: Request) -> JSONResponse:
        if not healthy:
            return JSONResponse({"status": "failing"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def version_endpoint(_: Request) -> JSONResponse:
        return JSONResponse(info)

    return Starlette(routes=[Route("/healthz", healthz), Route("/version", version_endpoint)])
