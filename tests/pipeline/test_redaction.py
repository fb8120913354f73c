"""A registered secret never reaches any channel, in any of the forms secrets usually leak in.

Channels: the live view, structlog JSON logs, the JSON report, the GitHub step summary and workflow commands,
subprocess output and exception messages. The test fails if any channel's text contains the secret or the
encoded form the stage printed.
"""

from __future__ import annotations

import base64
import io
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from shipyard import _logging, register_secret
from shipyard._secrets import StreamRedactor
from shipyard.pipeline import GitHubReporter, LogReporter, Pipeline, RunOptions, StageContext, StageFailed
from shipyard.pipeline._live import LiveReporter
from shipyard.testing import RecordingReporter

# name -> (secret, python code that prints it in that form, the text that would leak)
FORMS = {
    "plain": ("hunter2-s3cr3t-token", "print(S)", None),
    "multi-line": ("-----BEGIN KEY-----\nAAAAbbbbCCCCdddd\n-----END KEY-----", "print(S)", None),
    "spaces": ("correct horse battery staple", "print('password is', S)", None),
    "split-write": (
        "split-secret-value-42",
        "import sys, time; sys.stdout.write('token=' + S[:9]); sys.stdout.flush(); time.sleep(0.2);"
        " sys.stdout.write(S[9:] + ' end\\n')",
        None,
    ),
    "base64": (
        "b64-secret-Passw0rd!",
        "import base64; print('Authorization: Basic ' + base64.b64encode(('deploy:' + S).encode()).decode())",
        "base64",
    ),
    "url-encoded": (
        "p@ss w/rd&x=1;zz",
        "import urllib.parse; print('https://h/?pw=' + urllib.parse.quote(S, safe=''))",
        "url",
    ),
}


def _leaks(secret: str, kind: str | None) -> list[str]:
    forms = [secret, *(line for line in secret.splitlines() if len(line) >= 4)]
    if kind == "base64":
        forms.append(base64.b64encode(("deploy:" + secret).encode()).decode()[8:-4])
    if kind == "url":
        forms.append(urllib.parse.quote(secret, safe=""))
    return forms


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    _logging.configure(json=True, stream=stream)
    yield stream
    structlog.reset_defaults()


@pytest.mark.parametrize("form", list(FORMS))
async def test_secret_never_reaches_any_channel(
    form: str, tmp_path: Path, log_stream: io.StringIO, recorder: RecordingReporter, options: RunOptions
) -> None:
    secret, code, kind = FORMS[form]
    register_secret(secret)
    live_stream, gh_stream = io.StringIO(), io.StringIO()
    summary = tmp_path / "step-summary.md"
    options.reporters = [
        recorder,
        LogReporter(output_lines=True),
        LiveReporter(live_stream, force_terminal=True, width=200),
        GitHubReporter(stream=gh_stream, summary_path=summary),
    ]
    p = Pipeline(f"leaky-{form}")

    @p.stage(cache=True)
    async def prints(ctx: StageContext) -> None:
        await ctx.run([sys.executable, "-c", f"S = {secret!r}\n{code}"])
        ctx.summary = f"used {secret}"
        ctx.log.info("token in use", token=secret, nested={"values": [secret]})

    @p.stage(after="prints")
    async def fails(ctx: StageContext) -> None:
        ctx.summary = secret
        await ctx.run([sys.executable, "-c", f"S = {secret!r}\n{code}\nraise SystemExit('bad credentials ' + S)"])

    with pytest.raises(StageFailed) as info:
        await p.run_async(options)

    report = info.value.report
    assert report.path is not None
    cache_files = [f.read_text() for f in (tmp_path / ".shipyard" / "cache").rglob("*.json")]
    channels = {
        "subprocess output": "\n".join(r.output for r in report.stages) + recorder.text(),
        "exception": str(info.value) + (report.stage("fails").error or ""),
        "logs": log_stream.getvalue(),
        "live view": live_stream.getvalue(),
        "json report": report.path.read_text(),
        "step summary": summary.read_text(),
        "workflow commands": gh_stream.getvalue(),
        "cache entries": "\n".join(cache_files),
    }
    # The channels did carry the stage's output (masked), so a missing channel cannot pass vacuously.
    assert "***" in channels["subprocess output"]
    assert "***" in channels["json report"]
    assert "***" in channels["workflow commands"]
    # What the stage printed held a secret: its result is not stored (only its key parts, for --explain).
    assert any("'prints' is not cached" in w for w in report.warnings), report.warnings
    assert not (tmp_path / ".shipyard" / "cache" / "entries").exists()
    for name, text in channels.items():
        assert text, f"channel {name} is empty"
        for leak in _leaks(secret, kind):
            assert leak not in text, f"{form} secret leaked through {name}"


def test_stream_redactor_catches_a_secret_split_anywhere() -> None:
    secret = "abcdef-SECRET-123456"
    register_secret(secret)
    text = f"start {secret} middle\nline two {secret}\nend {secret}"
    for cut in range(len(text) + 1):
        for second_cut in (cut, min(cut + 3, len(text))):
            stream = StreamRedactor()
            out = stream.feed(text[:cut]) + stream.feed(text[cut:second_cut]) + stream.feed(text[second_cut:])
            out += stream.flush()
            assert secret not in out
            assert out == text.replace(secret, "***")


def test_stream_redactor_does_not_hold_back_a_long_line_forever() -> None:
    register_secret("a-registered-secret")
    stream = StreamRedactor()
    emitted = stream.feed("x" * 10_000)  # no newline at all, e.g. a progress bar
    assert len(emitted) >= 10_000 - 100  # only a secret-length tail is held back
    assert emitted + stream.flush() == "x" * 10_000
