"""Open a page in Debian's headless Chromium with the network blocked; return its DOM and the page's requests.

The page's own requests are read from Chromium's net log: a request the file:// page started has the page's
opaque origin ("null") as initiator; the browser's own background requests (blocked by the proxy too) do not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shipyard.testing import require

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    # No network: every connection goes to a closed port, every name fails to resolve.
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


@dataclass
class Page:
    dom: str
    requests: list[str]  # every URL the page itself asked for (file:, data: and blob: included)
    screenshot: Path

    @property
    def external(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(("file:", "data:", "blob:", "about:"))]


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        require("Debian's chromium is not installed (ci/report-tools.sh installs it)")
    return str(found)


def open_page(url: str, workdir: Path, *, height: int = 2400) -> Page:
    workdir.mkdir(parents=True, exist_ok=True)
    net_log, shot = workdir / "net-log.json", workdir / "screenshot.png"
    proc = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={workdir / 'profile'}",
            f"--log-net-log={net_log}",
            "--virtual-time-budget=15000",
            f"--window-size=1280,{height}",
            f"--screenshot={shot}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = json.loads(net_log.read_text())
    names = {value: key for key, value in log["constants"]["logEventTypes"].items()}
    requests = [
        str(event["params"]["url"])
        for event in log["events"]
        if names.get(event["type"]) == "URL_REQUEST_START_JOB"
        and (event.get("params") or {}).get("initiator") not in (None, "not an origin")
        and "url" in event["params"]
    ]
    (workdir / "dom.html").write_text(proc.stdout)
    return Page(dom=proc.stdout, requests=requests, screenshot=shot)
