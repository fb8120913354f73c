"""Skipping what is proven: the generated session jobs run through ``invoke check --only`` and a shared S3 store
(a real moto server), run with ``shipyard ci run`` for three commits of a fixture project that knows nothing of
Shipyard beyond its dev dependency: everything runs, then a README-only change is all cached (log and step summary
name the producing run), then a change to the tests reruns tests while lint stays proven. A tampered entry and an
unsigned entry are misses; a read-only run writes nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard._cli import main
from shipyard._errors import ConfigError
from shipyard.ci import CI_WORKFLOW, check, generate, load_config
from shipyard.ci._model import GATE_JOB
from shipyard.testing import MotoServer, moto_server

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
KEY = "ci-cache-signing-key-of-32-chars"
SESSIONS = ("lint", "tests", "build")

NOXFILE = """
import pathlib

import nox

nox.options.sessions = ["lint", "tests", "build"]
# Beside the project (not one of its inputs): which sessions really ran, as a restored log replays what they said.
RAN = pathlib.Path(__file__).resolve().parent.parent / "ran.log"


def ran(name):
    with RAN.open("a") as log:
        log.write(name + "\\n")


@nox.session(venv_backend="none")
def lint(session):
    session.run("python", "-m", "compileall", "-q", "src")
    ran("lint")
    print("LINT RAN")


@nox.session(venv_backend="none")
def tests(session):
    session.run("python", "-c", "import sys; sys.path.insert(0, 'src'); import app; assert app.double(2) == 4")
    ran("tests")
    print("TESTS RAN")


@nox.session(venv_backend="none")
def build(session):
    dist = pathlib.Path("dist")
    dist.mkdir(exist_ok=True)
    (dist / "app-1.0.tar.gz").write_text(pathlib.Path("src/app.py").read_text())
    ran("build")
    print("BUILD RAN")
"""

PYPROJECT = """
[project]
name = "app"
version = "1.0"
requires-python = ">=3.11"

[dependency-groups]
dev = ["shipyard"]

[tool.uv.sources]
shipyard = {{ path = "{root}", editable = true }}

[tool.shipyard.check]
files = ["src/**/*.py", "tests/**/*.py", "noxfile.py"]
session-files = {{ lint = ["src/**/*.py"] }}
env = []

[tool.shipyard.ci]
cache-store = "s3://{bucket}/ci"
cache-aws-role = "arn:aws:iam::123456789012:role/shipyard-cache"
cache-aws-region = "us-east-1"
"""


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def _git(root: Path, *argv: str) -> None:
    git = ["git", "-c", "user.name=fixture", "-c", "user.email=fixture@example.invalid"]
    subprocess.run([*git, *argv], cwd=root, check=True, capture_output=True)


def make_cached_project(root: Path, bucket: str) -> Path:
    """The fixture: a src/ layout app with lint, tests and build sessions, committed, its venv synced."""
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "app.py").write_text("def double(x):\n    return 2 * x\n")
    test = "from app import double\n\n\ndef test_double():\n    assert double(2)\n"
    (root / "tests" / "test_app.py").write_text(test)
    (root / "README.md").write_text("# app\n")
    (root / "noxfile.py").write_text(NOXFILE)
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    (root / ".gitignore").write_text(".venv/\n.nox/\n.shipyard/\ndist/\n")
    (root / "pyproject.toml").write_text(PYPROJECT.format(root=ROOT, bucket=bucket))
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (ci/install-uv.sh installs it)")
    env = {k: v for k, v in os.environ.items() if k not in ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")}
    for argv in (["lock"], ["sync", "--locked"]):
        subprocess.run([uv, *argv], cwd=root, check=True, capture_output=True, timeout=300, env=env)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "first")
    return root


def run_every_job(root: Path, monkeypatch: pytest.MonkeyPatch, run_id: str, capsys: Any) -> tuple[str, str]:
    """Every job of ci.yml as a fresh GitHub runner would run it: (its output and log, then a line
    ``<SESSION> RAN FRESH`` for each session that really ran; the step summary)."""
    shutil.rmtree(root / ".shipyard", ignore_errors=True)  # a runner starts with no local cache
    summary = root.parent / f"summary-{run_id}.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_RUN_ID", run_id)
    capsys.readouterr()
    jobs = [j for j in yaml.safe_load((root / CI_WORKFLOW).read_text())["jobs"] if j != GATE_JOB]
    assert sorted(jobs) == sorted(SESSIONS)
    for job in jobs:
        code = main(["ci", "run", job, "--root", str(root)])
        captured = capsys.readouterr()
        assert code == 0, captured.out + captured.err
        print(captured.out + captured.err)
    captured = capsys.readouterr()
    log = root.parent / "ran.log"
    ran = log.read_text() if log.is_file() else ""
    log.unlink(missing_ok=True)
    return captured.out + "\n".join(f"{name.upper()} RAN FRESH" for name in ran.split()), summary.read_text()


@pytest.fixture
def ci_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith(("AWS_", "SHIPYARD_", "GITHUB_")):
            monkeypatch.delenv(name)
    env = {
        **moto.env,
        "SHIPYARD_CACHE_SIGNING_KEY": KEY,
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _objects(moto: MotoServer, bucket: str) -> dict[str, bytes]:
    s3: Any = moto.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def _run_url(run_id: str) -> str:
    return f"https://github.com/acme/app/actions/runs/{run_id}"


def test_three_commits_run_then_skip_what_is_proven(
    moto: MotoServer, ci_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    bucket = f"ci-cache-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    root = make_cached_project(tmp_path / "app", bucket)
    generate(root)
    assert check(root) == []
    job = yaml.safe_load((root / CI_WORKFLOW).read_text())["jobs"]["lint"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    run = job["steps"][-1]
    assert run["run"] == "uv run --locked invoke check --only lint --explain"
    assert run["env"]["SHIPYARD_CACHE_SIGNING_KEY"] == "${{ secrets.SHIPYARD_CACHE_SIGNING_KEY }}"
    assert "head.repo.full_name != github.repository" in run["env"]["SHIPYARD_CACHE_READ_ONLY"]

    # 1. The first commit: nothing is proven yet, every session runs and its entry is stored.
    out, summary = run_every_job(root, monkeypatch, "101", capsys)
    for name in SESSIONS:
        assert f"{name.upper()} RAN FRESH" in out
    assert "cached (from run" not in out + summary
    stored = _objects(moto, bucket)
    assert stored
    assert all(name.startswith("ci/") for name in stored)

    # 2. A README-only change: every session is cached, and says which run proved it, in the log and the summary.
    (root / "README.md").write_text("# app\n\nNow with a better README.\n")
    _git(root, "commit", "-qam", "README only")
    out, summary = run_every_job(root, monkeypatch, "102", capsys)
    for name in SESSIONS:
        assert f"{name.upper()} RAN FRESH" not in out
        assert f"{name}: cached (from run {_run_url('101')})" in out
        assert f"| {name} | ⚡ cached | cached (from run {_run_url('101')}) |" in summary
    assert (root / "dist" / "app-1.0.tar.gz").is_file()  # the build's output came back from the store
    assert _objects(moto, bucket) == stored  # a run of hits writes nothing

    # 3. A change to the tests: tests and build rerun (and --explain names the file), lint stays proven.
    (root / "tests" / "test_app.py").write_text("from app import double\n\n\ndef test_double():\n    assert 1\n")
    _git(root, "commit", "-qam", "tests changed")
    out, summary = run_every_job(root, monkeypatch, "103", capsys)
    assert "TESTS RAN FRESH" in out
    assert "BUILD RAN FRESH" in out
    assert "LINT RAN FRESH" not in out
    assert f"lint: cached (from run {_run_url('101')})" in out
    assert "tests: cache miss:" in out
    assert "tests/test_app.py" in out.split("tests: cache miss:", 1)[1].split("\n")[0]
    assert "| tests | ✅ passed | miss" in summary


def _stage_key(root: Path, stage: str) -> str:
    report = json.loads((root / ".shipyard" / "runs" / "latest.json").read_text())
    return str(next(s["key"] for s in report["stages"] if s["name"] == stage))


def test_tampered_and_unsigned_entries_are_misses_and_read_only_writes_nothing(
    moto: MotoServer, ci_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import hashlib
    import hmac

    from shipyard.pipeline._cache import CacheEntry, decode_entry, encode_entry

    bucket = f"ci-cache-{uuid.uuid4().hex[:10]}"
    s3: Any = moto.client("s3")
    s3.create_bucket(Bucket=bucket)
    root = make_cached_project(tmp_path / "app", bucket)
    generate(root)
    monkeypatch.setenv("GITHUB_RUN_ID", "201")

    def lint() -> str:
        shutil.rmtree(root / ".shipyard", ignore_errors=True)
        capsys.readouterr()
        assert main(["ci", "run", "lint", "--root", str(root)]) == 0
        captured = capsys.readouterr()
        log = root.parent / "ran.log"
        fresh = "LINT RAN FRESH" if log.is_file() and "lint" in log.read_text() else ""
        log.unlink(missing_ok=True)
        return captured.out + captured.err + fresh

    assert "LINT RAN FRESH" in lint()
    key = _stage_key(root, "lint")
    name = hmac.new(KEY.encode(), key.encode(), hashlib.sha256).hexdigest()
    obj = f"ci/{name[:2]}/{name}.json"
    good = s3.get_object(Bucket=bucket, Key=obj)["Body"].read()
    out = lint()
    assert "cached (from run" in out
    assert "FRESH" not in out

    # Tampered: the signed body changed (a forged "passed" output), the signature kept.
    s3.put_object(Bucket=bucket, Key=obj, Body=good.replace(b"LINT RAN", b"LINT HAD"))
    out = lint()
    assert "LINT RAN FRESH" in out
    assert "cached (from run" not in out
    assert "rejected" in out

    # Unsigned: a well-formed entry without a signature, as a run without the key would write.
    entry = decode_entry(good, KEY.encode())
    forged = CacheEntry(key, "lint", entry.outputs, {}, entry.summary, entry.output, origin="https://evil.example")
    s3.put_object(Bucket=bucket, Key=obj, Body=encode_entry(forged, None))
    out = lint()
    assert "LINT RAN FRESH" in out
    assert "evil.example" not in out

    # Read-only (a fork's pull request): it reads, it runs what missed, it writes nothing.
    (root / "src" / "app.py").write_text("def double(x):\n    return x + x\n")
    before = _objects(moto, bucket)
    monkeypatch.setenv("SHIPYARD_CACHE_READ_ONLY", "1")
    for job in SESSIONS:
        shutil.rmtree(root / ".shipyard", ignore_errors=True)
        assert main(["ci", "run", job, "--root", str(root)]) == 0
    assert sorted((root.parent / "ran.log").read_text().split()) == ["build", "lint", "tests"]
    assert _objects(moto, bucket) == before


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('cache-store = "https://bucket/x"', "tool.shipyard.ci.cache-store: 'https://bucket/x' is not an S3 store"),
        ('cache-store = "s3://Bad_Bucket/x"', "is not an S3 store"),
        ('cache-store = "s3://bucket/ci"', "cache-aws-role is empty"),
        (
            'cache-store = "s3://bucket/ci"\ncache-aws-role = "role/x"\ncache-aws-region = "us-east-1"',
            "'role/x' is not an IAM role ARN",
        ),
        (
            'cache-store = "s3://bucket/ci"\ncache-aws-role = "arn:aws:iam::123456789012:role/r"',
            "cache-aws-region is empty",
        ),
        ('cache-aws-region = "us-east-1"', "tool.shipyard.ci.cache-aws-region: is set but cache-store is empty"),
        ("cache-store = 3", "tool.shipyard.ci.cache-store"),
    ],
)
def test_bad_cache_settings_are_one_line_errors(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "0"\n\n[tool.shipyard.ci]\n{table}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_without_a_store_jobs_run_as_today(tmp_path: Path) -> None:
    from shipyard.ci import NoxSession, render_workflows

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    config = load_config(tmp_path)
    sessions = [NoxSession(name="lint", session="lint", python=None)]
    jobs = yaml.safe_load(render_workflows(sessions, config)[0].text)["jobs"]
    assert jobs["lint"]["steps"][-1]["run"] == "uv run --locked nox -s lint"
    assert "permissions" not in jobs["lint"]
    assert "SHIPYARD_CACHE" not in render_workflows(sessions, config)[0].text


def _warnings(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.lstrip().startswith("::warning")]


@contextlib.contextmanager
def _endpoint(why: str) -> Iterator[str]:
    """An S3 endpoint on 127.0.0.1 that refuses every request as S3 does (403 AccessDenied; 301 PermanentRedirect,
    the bucket living in another region), or accepts connections and never answers (``hangs``)."""
    import http.server
    import socket
    import threading

    if why == "hangs":
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(64)
            yield f"http://127.0.0.1:{server.getsockname()[1]}"
        return
    status, code, extra = {
        "access denied": (403, "AccessDenied", {}),
        "bucket in another region": (301, "PermanentRedirect", {"x-amz-bucket-region": "eu-central-1"}),
    }[why]

    class Refuse(http.server.BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{why}</Message></Error>".encode()
            self.send_response(status)
            for name, value in {**extra, "Content-Type": "application/xml", "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _refuse  # noqa: N815 - http.server's names

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "why",
    [
        "credentials step failed",
        "no credentials at all",
        "no such bucket",
        "access denied",
        "bucket in another region",
        "hangs",
    ],
)
def test_a_store_out_of_reach_runs_the_session_warns_once_and_reports_truthfully(
    *,
    why: str,
    moto: MotoServer,
    ci_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    request: pytest.FixtureRequest,
) -> None:
    """As on GitHub while the bucket or role does not exist yet: the credentials step fails without failing the
    job (continue-on-error), so the session step runs with the store out of reach. The session runs for real, even
    though the store holds a passing entry for these inputs; the job passes or fails on the session's own result;
    one ``::warning::`` says why; nothing is written and nothing is reported cached."""
    bucket = f"ci-cache-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    root = make_cached_project(tmp_path / "app", bucket)
    generate(root)
    steps = yaml.safe_load((root / CI_WORKFLOW).read_text())["jobs"]["lint"]["steps"]
    credentials = next(s for s in steps if "configure-aws-credentials" in s.get("uses", ""))
    assert credentials["continue-on-error"] is True
    assert steps[-1]["env"]["SHIPYARD_CACHE_CREDENTIALS"] == "${{ steps." + credentials["id"] + ".outcome }}"
    monkeypatch.setenv("GITHUB_RUN_ID", "301")

    def lint() -> tuple[int, str]:
        shutil.rmtree(root / ".shipyard", ignore_errors=True)
        capsys.readouterr()
        code = main(["ci", "run", "lint", "--root", str(root)])
        captured = capsys.readouterr()
        log = root.parent / "ran.log"
        fresh = "LINT RAN FRESH" if log.is_file() and "lint" in log.read_text() else ""
        log.unlink(missing_ok=True)
        return code, captured.out + captured.err + fresh

    assert lint()[0] == 0  # a run with the store in reach proves lint
    assert "cached (from run" in lint()[1]
    proven = _objects(moto, bucket)
    stack = contextlib.ExitStack()
    request.addfinalizer(stack.close)

    if why == "credentials step failed":
        monkeypatch.setenv("SHIPYARD_CACHE_CREDENTIALS", "failure")
        reason = "the job's AWS credentials step failed"
    elif why == "no credentials at all":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probe off this machine
        monkeypatch.setenv("SHIPYARD_CACHE_CREDENTIALS", "success")  # what GitHub says when the step "passed"
        reason = "NoCredentialsError"
    elif why == "no such bucket":  # deleted, or never created: the entry proven above is gone with it
        s3: Any = moto.client("s3")
        for name in proven:
            s3.delete_object(Bucket=bucket, Key=name)
        s3.delete_bucket(Bucket=bucket)
        proven = {}
        reason = "NoSuchBucket"
    else:
        endpoint = stack.enter_context(_endpoint(why))
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        reason = {"access denied": "AccessDenied", "bucket in another region": "another region"}.get(why, "timeout")
    started = time.monotonic()
    code, out = lint()
    assert time.monotonic() - started < 90, "a store out of reach must cost a bounded time"
    assert code == 0, out
    assert "LINT RAN FRESH" in out
    assert "cached (from run" not in out
    warnings = _warnings(out)
    assert len(warnings) == 1, warnings
    assert reason in warnings[0]
    assert "treating every lookup as a miss" in warnings[0]
    assert _objects_if_any(moto, bucket) == proven  # out of reach: nothing written

    # A failing session still fails its job: a store out of reach never turns red into green.
    (root / "src" / "app.py").write_text("def double(x:\n")
    code, out = lint()
    assert code != 0
    assert "LINT RAN FRESH" not in out  # compileall failed before the session recorded itself
    assert "cached (from run" not in out
    assert len(_warnings(out)) == 1
    assert _objects_if_any(moto, bucket) == proven


def _objects_if_any(moto: MotoServer, bucket: str) -> dict[str, bytes]:
    s3: Any = moto.client("s3")
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        return {}
    return _objects(moto, bucket)


def test_a_store_that_hangs_is_given_up_in_bounded_time() -> None:
    """A store that accepts connections and never answers (a black-holed endpoint): each call is bounded by the
    client's timeouts and retries, and ends as the ``CacheStoreError`` the run turns into a warning and a miss."""
    import socket
    import time

    from shipyard.pipeline import S3Store
    from shipyard.pipeline._s3 import CacheStoreError

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        env = {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            store = S3Store("hanging-bucket", timeout=0.5)
            start = time.monotonic()
            with pytest.raises(CacheStoreError, match="hanging-bucket"):
                store.get("0" * 64)
            elapsed = time.monotonic() - start
    assert elapsed < 5  # 3 attempts of 0.5 s reads, and botocore's short back-off between them


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_ci_run_stopped_mid_job_stops_the_session_and_proves_nothing(
    signame: str, moto: MotoServer, ci_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (a runner cancelling) or SIGINT (Ctrl-C, which reaches only ``ci run``: the job has a process group
    of its own) to ``shipyard ci run`` in the middle of a session: the job's whole process tree is stopped (not left
    running on its own), the command exits 130, and the store holds no entry for the session that never finished."""
    import signal
    import sys
    import time

    bucket = f"ci-cache-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    root = make_cached_project(tmp_path / "app", bucket)
    pid_file = tmp_path / "session.pid"
    slow = f"""    import os, time
    pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))
    time.sleep(120)
"""
    noxfile = (root / "noxfile.py").read_text()
    (root / "noxfile.py").write_text(noxfile.replace("def lint(session):\n", "def lint(session):\n" + slow, 1))
    generate(root)
    monkeypatch.setenv("GITHUB_RUN_ID", "401")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    argv = [sys.executable, "-m", "shipyard", "ci", "run", "lint", "--root", str(root)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not pid_file.is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert pid_file.is_file(), proc.communicate()[0]
        session = int(pid_file.read_text())
        proc.send_signal(getattr(signal, signame))
        out = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert not Path(f"/proc/{session}").exists() or "Z" in Path(f"/proc/{session}/stat").read_text().split()[2]
    assert _objects(moto, bucket) == {}, "a session that never finished was stored"


def test_the_composite_action_runs_a_session_through_the_shared_store(
    moto: MotoServer, ci_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """action.yml's session step, run by bash as the runner would with the inputs in its env: with a cache-store
    the second run is cached (from the first); posargs with a store is refused in one line; without a store it is
    plain nox, as before."""
    bucket = f"ci-cache-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    root = make_cached_project(tmp_path / "app", bucket)
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + "action = true\n")
    generate(root)
    steps = yaml.safe_load((root / "action.yml").read_text())["runs"]["steps"]
    script = next(s["run"] for s in steps if s.get("name") == "Run the session")
    assert "invoke check --only" in script
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}

    def session(run_id: str, **inputs: str) -> tuple[int, str]:
        shutil.rmtree(root / ".shipyard", ignore_errors=True)
        env = {**base, "SESSION": "lint", "POSARGS": "", "GITHUB_RUN_ID": run_id, "CI": "true", **inputs}
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", script], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        log = root.parent / "ran.log"
        fresh = "LINT RAN FRESH" if log.is_file() and "lint" in log.read_text() else ""
        log.unlink(missing_ok=True)
        return done.returncode, done.stdout + done.stderr + fresh

    store = {"SHIPYARD_CACHE_STORE": f"s3://{bucket}/ci", "SHIPYARD_CACHE_SIGNING_KEY": KEY}
    code, out = session("501", **store)
    assert code == 0, out
    assert "LINT RAN FRESH" in out
    code, out = session("502", **store)
    assert code == 0, out
    assert f"lint: cached (from run {_run_url('501')})" in out
    assert "FRESH" not in out
    code, out = session("503", **store, POSARGS="-x")
    assert code == 2
    assert "::error title=shipyard action::posargs and cache-store together" in out
    code, out = session("504", SHIPYARD_CACHE_STORE="")
    assert code == 0, out
    assert "LINT RAN FRESH" in out
    assert "cached (from run" not in out


def test_a_ci_run_killed_outright_takes_its_job_with_it(
    moto: MotoServer, ci_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL to ``shipyard ci run`` (no handler runs, the OOM killer, ``kill -9``): the job, in a process group of
    its own, is not left running on its own to finish and store its result unseen; it is stopped within seconds
    and the store holds nothing for it."""
    import signal
    import sys

    bucket = f"ci-cache-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    root = make_cached_project(tmp_path / "app", bucket)
    pid_file = tmp_path / "session.pid"
    slow = f"""    import os, time
    pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))
    time.sleep(20)
"""
    noxfile = (root / "noxfile.py").read_text()
    (root / "noxfile.py").write_text(noxfile.replace("def lint(session):\n", "def lint(session):\n" + slow, 1))
    generate(root)
    monkeypatch.setenv("GITHUB_RUN_ID", "402")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    argv = [sys.executable, "-m", "shipyard", "ci", "run", "lint", "--root", str(root)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not pid_file.is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert pid_file.is_file()
        session = Path(f"/proc/{pid_file.read_text()}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15

        def running() -> bool:
            try:
                return "Z" not in (session / "stat").read_text().split()[2:3]
            except OSError:
                return False

        while running():
            assert time.monotonic() < deadline, "the session kept running after ci run was killed"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(1)
    assert _objects(moto, bucket) == {}, "a session whose job was killed was stored"
    assert not (root.parent / "ran.log").exists()
