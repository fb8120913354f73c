"""An ordinary ASGI app (no framework) served by uvicorn: it knows nothing of Shipyard and reads only $PORT.

Test knobs baked into each image version (the app's own settings, not Shipyard's): FIXTURE_VERSION is what every
answer says; FIXTURE_FAIL_HEALTH answers 503 everywhere; FIXTURE_FAIL_AFTER answers 500 after that many requests.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import urllib.parse
from typing import Any

VERSION = os.environ.get("FIXTURE_VERSION", "unknown")
FAIL_HEALTH = os.environ.get("FIXTURE_FAIL_HEALTH") == "1"
FAIL_AFTER = int(os.environ.get("FIXTURE_FAIL_AFTER", "0"))
COUNT = itertools.count(1)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    served = next(COUNT)
    status, body = 200, f"{VERSION}\n"
    if FAIL_HEALTH or (FAIL_AFTER and served > FAIL_AFTER):
        status, body = (503 if FAIL_HEALTH else 500), f"{VERSION} failing\n"
    elif scope["path"] == "/slow":
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode())
        await asyncio.sleep(float(query.get("s", ["2"])[0]))
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body.encode()})
