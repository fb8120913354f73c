"""No registered secret leaks, in any form it commonly takes, through any channel, into any file a run writes.

A real process (a subprocess, as under CI in GitHub Actions) registers secrets, then runs a pipeline whose
stages print, log, summarise and fail with every form of each secret; the results go through every channel:
JSON logs and the CLI error line on stderr, GitHub workflow commands on stdout, the live view (a terminal
renderer writing to a file), the run report, the step summary, cache entries, and a deploy command's
``--json`` and text output. Then every file under the project and every byte of output is scanned for each
form. Tool output that tries to issue workflow commands (with leading whitespace, a tab, the legacy ``##[``
syntax, after a carriage return) must never parse as one; and a common-word secret must not mangle an image
reference.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

#: A secret with everything that changes its encodings: spaces, quotes, '/', '%', non-ASCII, two lines.
RICH = "Pa55 w/ord 'q\"%x €-tail\nsecond-line-42"
#: A plain token, and a common word that also occurs inside an image reference.
TOKEN = "tok3n->>>???-AbCd>?>?>?EfGh-12345"  # its base64 has "+" and "/" at every alignment
WORD = "hello"
IMAGE = "127.0.0.1:5000/acme/hello-service@sha256:" + "ab" * 32

INJECTIONS = [
    " ::add-mask::injected-1",
    "\t::error::injected-2",
    " ::stop-commands::injected-3",
    "\u00a0::set-output name=x::injected-4",
    "##[add-mask]injected-5",
    'json-like {"line": "##[error]injected-6"}',
    "progress 50%\r::warning::injected-7",
]

SCRIPT = r"""
import base64, json, os, shlex, sys, urllib.parse
from pathlib import Path

from shipyard import ShipyardError, register_secret
from shipyard._cli import Exit, handle_errors
from shipyard._logging import configure
from shipyard._secrets import protect
from shipyard.pipeline import GitHubReporter, LogReporter, Pipeline, RunOptions, StageContext
from shipyard.pipeline._live import LiveReporter
from shipyard.tasks._deploy import _emit

secrets = json.loads(os.environ["LEAK_SECRETS"])
injections = json.loads(os.environ["LEAK_INJECTIONS"])
image = os.environ["LEAK_IMAGE"]
root = Path.cwd()
for value in secrets:
    register_secret(value, source="test")
protect(image.split("@")[0].rsplit("/", 1)[0] + "/hello-service")


def lower_hex(text):
    import re
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def forms(s):
    b = s.encode()
    out = [s, *s.splitlines(), json.dumps(s), json.dumps(s, ensure_ascii=False), repr(s), repr(b), shlex.quote(s),
           urllib.parse.quote(s), urllib.parse.quote(s, safe=""), lower_hex(urllib.parse.quote(s)),
           urllib.parse.quote_plus(s)]
    for pad in (b"", b"u", b"us", b"user:"):
        out += [base64.b64encode(pad + b + b"!").decode(), base64.urlsafe_b64encode(pad + b).decode()]
    out.append(base64.encodebytes(b"x" * 50 + b + b"y" * 60).decode())  # MIME-wrapped, split across lines
    return out


every = [form for s in secrets for form in forms(s)]
configure(json=True, level="info")
live = open(root / "live-view.txt", "w")
options = RunOptions(
    root=root,
    environ={},
    reporters=[
        LogReporter(output_lines=True),
        LiveReporter(live, force_terminal=True, width=400),
        GitHubReporter(stream=sys.stdout, summary_path=root / "step-summary.md"),
    ],
)
p = Pipeline("leak")


@p.stage(cache=True)
async def prints(ctx: StageContext) -> None:
    for form in every:
        ctx.print("form: " + form)
    for line in injections:
        ctx.print(line)
    ctx.print("pushed " + image + " (" + secrets[-1] + ")")
    ctx.log.info("forms", forms=every, nested={"values": every}, image=image)
    ctx.summary = " | ".join(every[:6])


@p.stage(after="prints")
async def subprocess_stage(ctx: StageContext) -> None:
    code = "import sys, json; [print(f) for f in json.loads(sys.argv[1])]; raise SystemExit('bad ' + sys.argv[2])"
    await ctx.run([sys.executable, "-c", code, json.dumps(every + injections + ["pushed " + image]), secrets[0]])


data = {"image": image, "reason": "failed with " + " ".join(every[:8]), "details": {"forms": every}}
_emit(data, as_json=True, text="")
_emit(data, as_json=False, text="deployed " + image + " " + " ".join(every))
try:
    with handle_errors("invoke"):
        try:
            p.run(options)
        finally:
            live.close()
except Exit:
    pass
try:
    with handle_errors("invoke"):
        raise ShipyardError("deploy failed: " + " ".join(every) + " " + injections[0])
except Exit as exc:
    sys.exit(exc.code)
"""


def _forms(secret: str) -> list[str]:
    """What would betray ``secret`` in text: its encoded forms (for base64, the part only the secret decides)."""
    b = secret.encode()
    found = [secret]
    if "\n" in secret:  # each line of a multi-line secret betrays it too, in every form
        found += [form for line in secret.splitlines() if len(line) >= 4 for form in _forms(line)]
    found += [json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1]]
    quoted = shlex.quote(secret)
    found += [repr(b)[2:-1], quoted, quoted.strip("'"), urllib.parse.quote(secret), urllib.parse.quote(secret, safe="")]
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(secret))
    found += [lower, urllib.parse.quote_plus(secret)]
    for pad in (b"", b"u", b"us"):
        encoded = base64.b64encode(pad + b).decode()
        # Leave out the characters the padding bytes before, or the unknown bytes after, can change.
        inner = encoded[(len(pad) * 4 + 2) // 3 + 1 : len(encoded.rstrip("=")) - 3]
        found += [inner, inner.replace("+", "-").replace("/", "_")]
    return [form for form in found if len(form) >= 4]


def _parses_as_command(line: str) -> bool:
    """The runner's two parsers (actions/runner ActionCommand.TryParseV2 trims leading whitespace)."""
    return line.lstrip().startswith("::") or "##[" in line


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    root = tmp_path_factory.mktemp("leak")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SHIPYARD_"))}
    env.update(
        CI="true",
        GITHUB_ACTIONS="true",
        LEAK_SECRETS=json.dumps([RICH, TOKEN, WORD]),
        LEAK_INJECTIONS=json.dumps(INJECTIONS),
        LEAK_IMAGE=IMAGE,
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return proc, root


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()}


def test_the_run_went_through_every_channel(run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, root = run
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    files = _files(root)
    # Every channel was written to, and carried masked text: a channel that stayed silent cannot pass.
    assert any(name.startswith(".shipyard/runs/") for name in files)
    assert any(name.startswith(".shipyard/cache/") for name in files)
    for name in ("live-view.txt", "step-summary.md"):
        assert "***" in files[name], name
    # The structured event: a JSON line, or (a live view being active) a line above the live table.
    assert '"event": "forms"' in proc.stderr or "forms" in files["live-view.txt"]
    assert "::group::prints: passed" in proc.stdout
    assert '"image": "' + IMAGE + '"' in proc.stdout  # --json output
    errors = [line for line in proc.stderr.splitlines() if line.startswith("invoke: error:")]
    assert len(errors) == 2
    assert "***" in errors[-1]


@pytest.mark.parametrize("secret", [RICH, TOKEN, WORD], ids=["rich", "token", "common-word"])
def test_no_form_of_a_secret_reaches_any_channel_or_file(
    secret: str, run: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    proc, root = run
    channels = {"stdout (workflow commands, --json, text)": proc.stdout, "stderr (JSON logs, error line)": proc.stderr}
    channels.update({f"file {name}": text for name, text in _files(root).items()})
    forms = _forms(secret)
    if secret == WORD:
        # The image reference holds the word on purpose; it must survive whole, everywhere else "hello" goes.
        channels = {name: text.replace(IMAGE, "").replace("hello-service", "") for name, text in channels.items()}
    for name, text in channels.items():
        for form in forms:
            assert form not in text, f"{form!r} (a form of a secret) leaked through {name}"
    # MIME-wrapped base64: the secret's bytes must not decode out of any wrapped block either.
    for name, text in channels.items():
        for block in re.findall(r"(?:[A-Za-z0-9+/]{20,}={0,2}(?:\\n|\n))+", text):
            joined = block.replace("\\n", "").replace("\n", "")
            for start in range(4):
                chunk = joined[start:]
                chunk = chunk[: len(chunk) - len(chunk) % 4]
                decoded = base64.b64decode(chunk + "==", validate=False)
                assert secret.encode() not in decoded, f"MIME base64 of a secret leaked through {name}"


def test_identifiers_are_never_rewritten(run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, root = run
    assert f"pushed {IMAGE} (***)" in proc.stdout  # the workflow-command channel: reference whole, word masked
    assert IMAGE in _files(root)["live-view.txt"]
    report = json.loads((root / ".shipyard" / "runs" / "latest.json").read_text())
    assert report["stages"][0]["name"] == "prints"
    assert json.loads(proc.stdout[proc.stdout.index("{") : proc.stdout.index("\n}\n") + 2])["image"] == IMAGE


def test_tool_output_never_parses_as_a_workflow_command(run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = run
    ours = re.compile(r"::(group|endgroup|stop-commands|error title=[^:]*|warning title=[^:]*|[0-9a-f]{32})::?")
    tokens = re.findall(r"^::stop-commands::([0-9a-f]{32})$", proc.stdout, re.MULTILINE)
    assert len(tokens) >= 2
    assert len(set(tokens)) == len(tokens)  # a fresh random token per block
    for stream in (proc.stdout, proc.stderr):
        # The runner splits output at \r and \n.
        for line in re.split(r"\r\n|\r|\n", stream):
            if _parses_as_command(line):
                assert ours.match(line), f"tool output would run as a workflow command: {line!r}"
    for token in tokens:
        assert f"::{token}::" in proc.stdout.splitlines()  # every fenced block is closed again
    for marker in ("injected-1", "injected-2", "injected-5", "injected-7"):
        assert marker in proc.stdout  # neutralised, not dropped


def test_redact_fields_keeps_identifiers_whole_but_never_a_secret_that_is_one_of_their_parts() -> None:
    from shipyard._secrets import redact_fields, register_secret

    register_secret(WORD)
    register_secret(TOKEN)
    data = {
        "image": "reg.example/acme/hello-service:1.0",
        "digest": "sha256:" + "c" * 64,
        "started_at": "2026-12-01T10:00:00Z",
        "id": TOKEN,  # an identifier field holding a secret: masked all the same
        "tags": [f"reg.example/acme/app:{TOKEN}"],
        "message": f"say {WORD} with {TOKEN}",
        "nested": [{"image": "x/hello:2", "note": WORD}],
    }
    assert redact_fields(data) == {
        "image": "reg.example/acme/hello-service:1.0",
        "digest": "sha256:" + "c" * 64,
        "started_at": "2026-12-01T10:00:00Z",
        "id": "***",
        "tags": ["reg.example/acme/app:***"],
        "message": "say *** with ***",
        "nested": [{"image": "x/***:2", "note": "***"}],  # "hello" is a whole component there
    }


def test_a_mime_wrapped_secret_split_across_writes_is_still_masked() -> None:
    from shipyard._secrets import StreamRedactor, register_secret

    register_secret(TOKEN)
    text = "body:\n" + base64.encodebytes(b"x" * 40 + TOKEN.encode() + b"y" * 40).decode() + "end\n"
    for cut in range(0, len(text), 7):
        stream = StreamRedactor()
        out = stream.feed(text[:cut]) + stream.feed(text[cut:]) + stream.flush()
        joined = out.replace("\n", "")
        for start in range(4):
            chunk = joined[joined.index(":") + 1 + start :]
            decoded = base64.b64decode(chunk[: len(chunk) - len(chunk) % 4] + "==", validate=False)
            assert TOKEN.encode() not in decoded
        assert "***" in out


def test_the_error_line_masks_a_secret_whose_lines_meet_again_on_it(capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard import ShipyardError, register_secret
    from shipyard._cli import Exit, handle_errors

    register_secret("abc defg")  # the message below breaks it over two lines; joining them restores it
    with pytest.raises(Exit), handle_errors("invoke"):
        raise ShipyardError("login failed for token abc\ndefg at the registry")
    assert capsys.readouterr().err == "invoke: error: login failed for token *** at the registry\n"


@pytest.mark.parametrize("value", ["abc\n", "  ab  ", "\tab\r\n"])
def test_a_secret_short_once_whitespace_is_stripped_is_refused_naming_its_source(value: str) -> None:
    # "abc\n" (an SSM value saved with a trailing newline) is 4 characters, but a tool prints "abc": unmaskable.
    from shipyard._errors import ConfigError
    from shipyard._secrets import Redactor

    with pytest.raises(ConfigError, match=r"^secret ssm:/app/pin \(for PIN\): .*too short"):
        Redactor().register(value, source="secret ssm:/app/pin (for PIN)")


@pytest.mark.parametrize(
    "secret", ["1796", "hello", "a.b*c(", "pässwörd", "abcd\n", "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n"]
)
def test_json_keys_and_protected_references_survive_a_secret_that_is_part_of_them(secret: str) -> None:
    from shipyard._secrets import Redactor

    redactor = Redactor()
    redactor.register(secret)
    first = secret.splitlines()[-1]
    text = json.dumps({"result": "ok", "image": "acme/app", "token": secret, "line": f"got {first}!"})
    out = redactor.redact(text)
    assert json.loads(out) == {"result": "ok", "image": "acme/app", "token": "***", "line": "got ***!"}


@pytest.mark.parametrize("word", ["image", "result", "digest"])
def test_a_secret_that_is_a_json_key_leaves_the_key_but_masks_the_value(word: str) -> None:
    from shipyard._secrets import Redactor, redact_fields

    redactor = Redactor()
    redactor.register(word)
    data = {word: "acme/app", "message": f"the {word} is here", "n": 1}
    fields = redact_fields(data, scrub=redactor.redact)
    assert fields["message"] == "the *** is here"
    assert word in fields  # the schema survives
    assert json.loads(redactor.redact(json.dumps(fields)))["message"] == "the *** is here"
    assert word in json.loads(redactor.redact(json.dumps(fields)))


def test_a_token_like_json_key_is_still_masked() -> None:
    from shipyard._secrets import Redactor, redact_fields

    redactor = Redactor()
    redactor.register("Tok3nAbCd99")
    assert redactor.redact(json.dumps({"Tok3nAbCd99": "user"})) == '{"***": "user"}'
    assert redact_fields({"Tok3nAbCd99": "user"}, scrub=redactor.redact) == {"***": "user"}


def test_a_digit_secret_never_breaks_serialized_json_numbers() -> None:
    # A PIN "1796" is inside every unix timestamp of 2026-12 (1796...): history records, run reports and JSON
    # log lines are scrubbed again after serialization, and must stay JSON that can be read back.
    from shipyard._secrets import Redactor

    redactor = Redactor()
    redactor.register("1796")
    record = {"started_at": 1796169819.693312, "duration": 0.1796, "code": -17960, "reason": "pin 1796 refused"}
    for text in (json.dumps(record), json.dumps(record, indent=2), json.dumps(record, separators=(",", ":"))):
        out = redactor.redact(text)
        assert json.loads(out) == {**record, "reason": "pin *** refused"}
    assert redactor.redact('{"pin": "1796"}') == '{"pin": "***"}'  # a string value is masked all the same
    assert redactor.redact('{"pin": 1796}') == '{"pin": ***}'  # and a number that is the secret itself
