"""An ordinary Flask app served by gunicorn: it knows nothing of Shipyard and reads only $PORT (via gunicorn's bind).

Test knobs baked into each image version (the app's own settings, not Shipyard's): FIXTURE_VERSION is what every
answer says; FIXTURE_FAIL_HEALTH answers 503 everywhere; FIXTURE_FAIL_AFTER answers 500 after that many requests.
"""

from __future__ import annotations

import itertools
import os
import time

from flask import Flask, request

app = Flask(__name__)
VERSION = os.environ.get("FIXTURE_VERSION", "unknown")
FAIL_HEALTH = os.environ.get("FIXTURE_FAIL_HEALTH") == "1"
FAIL_AFTER = int(os.environ.get("FIXTURE_FAIL_AFTER", "0"))
COUNT = itertools.count(1)


@app.route("/")
@app.route("/<path:_path>")
def answer(_path: str = "") -> tuple[str, int]:
    served = next(COUNT)
    if FAIL_HEALTH or (FAIL_AFTER and served > FAIL_AFTER):
        return f"{VERSION} failing\n", 503 if FAIL_HEALTH else 500
    if request.path == "/slow":
        time.sleep(float(request.args.get("s", "2")))
    return f"{VERSION}\n", 200
