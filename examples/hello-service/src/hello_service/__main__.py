"""Serve the app with uvicorn on ``$HOST:$PORT`` (default 127.0.0.1:8000): an ordinary web service.

Whatever runs it (a proxy in front, a process manager) needs nothing more: uvicorn's own graceful shutdown on
SIGTERM finishes the requests in flight.
"""

from __future__ import annotations

import os
import sys

import uvicorn

from hello_service.app import create_app


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    raw = os.environ.get("PORT", "8000")
    try:
        port = int(raw)
    except ValueError:
        sys.exit(f"hello-service: $PORT must be a port number, got {raw!r}")
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level=os.environ.get("LOG_LEVEL", "info"),
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
