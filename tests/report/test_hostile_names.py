"""Names and texts a report did not expect: markup and script in a tampered or hand-written run report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from ._chromium import open_page

# Each payload, if it ran, would leave a data attribute on <body> whose value is not in the payload's own text.
IMG = "<img src=x onerror=\"document.body.dataset.p=String.fromCharCode(88,89)+'Z1'\">"
SCRIPT = "<script>document.body.dataset.q=String.fromCharCode(88,89)+'Z2'</script>"
CLOSE = "</script><script>document.body.dataset.r=String.fromCharCode(88,89)+'Z3'</script>"
MARKUP = "<b>bold</b><a href=\"javascript:document.body.dataset.s=String.fromCharCode(88,89)+'Z4'\">link</a>"
TEMPLATE = "%{customdata[0]}<i>it</i>"


def _stage(name: str, summary: str = "") -> dict[str, object]:
    return {
        "name": name,
        "state": "passed",
        "started": "2026-12-01T10:00:00+00:00",
        "ended": "2026-12-01T10:00:02+00:00",
        "duration_s": 2.0,
        "cache": "off",
        "summary": summary,
        "error": None,
    }


def test_markup_in_names_is_shown_as_written_and_never_runs(tmp_path: Path) -> None:
    runs = tmp_path / ".shipyard" / "runs"
    runs.mkdir(parents=True)
    run = {
        "pipeline": f"p{IMG}",
        "result": "passed",
        "started": "2026-12-01T10:00:00+00:00",
        "ended": "2026-12-01T10:00:03+00:00",
        "duration_s": 3.0,
        "critical_path": [SCRIPT, CLOSE],
        "stages": [_stage(SCRIPT, IMG), _stage(CLOSE, MARKUP), _stage(MARKUP), _stage(TEMPLATE)],
    }
    (runs / "20261201T100000.000000-p-1.json").write_text(json.dumps(run))
    out = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "report", "--root", str(tmp_path), "--no-history", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    page = open_page(out.as_uri(), tmp_path / "chromium", height=1400)
    assert re.search(r"<body>", page.dom), page.dom[:500]  # no payload set a data attribute on <body>
    assert not re.search(r"XYZ\d", page.dom)
    charts = "".join(re.findall(r"<svg class=\"main-svg\".*?</svg>", page.dom, flags=re.S))
    assert charts
    assert not re.search(r"<a\b", charts)  # no link made from a name
    svg_text = " ".join(re.findall(r"<text[^>]*>(.*?)</text>", charts, flags=re.S))
    # The stage names read as written: markup is text, not bold or italics or a link.
    assert "&lt;b&gt;bold&lt;/b&gt;&lt;a href=" in svg_text, svg_text[:3000]
    assert "%{customdata[0]}&lt;i&gt;it&lt;/i&gt;" in svg_text
    assert "font-weight:bold" not in charts
    assert page.external == []
