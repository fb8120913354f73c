"""Every user mistake is one line: a table of bad inputs run through the real CLI (``invoke``, ``nox``).

Each row starts from a valid project (a docker environment and an image, knowing nothing of Shipyard beyond
its pyproject tables), breaks one thing, runs the command in a subprocess and asserts: the exit code, that
stderr is exactly one line, that the line names the file/key/option and says how to fix it, and that no
traceback appears anywhere. Rows that read secrets talk to a real moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing import MotoServer, free_port, moto_server

INVOKE = str(Path(sys.executable).with_name("invoke"))
Edit = Callable[[dict[str, Any]], None]


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _write_pyproject(path: Path, data: dict[str, Any]) -> None:
    lines = ['[project]\nname = "badapp"', f"version = {_toml(data['version'])}", "", "[tool.shipyard]"]
    lines += [f"{kind} = {_toml(data[kind])}" for kind in ("environments", "images")]  # inline tables
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _base() -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "environments": {"staging": {"target": "docker", "image": "badapp", "port": free_port(), "default": True}},
        "images": {"app": {"context": ".", "package": "badapp", "repository": "acme/badapp"}},
    }


def _env(**changes: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["environments"]["staging"].update(changes)

    return edit


def _image(**changes: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["images"]["app"].update(changes)

    return edit


def _ecs(**changes: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        table = {"target": "ecs", "image": "badapp", "cluster": "c", "service": "s", "history_bucket": "b"}
        data["environments"]["prod"] = {**table, **changes}

    return edit


@dataclass(frozen=True)
class Case:
    """One bad input: the command, what is broken, the exit code and what the one line must say."""

    argv: tuple[str, ...]
    needles: tuple[str, ...]
    edit: Edit | None = None
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    raw_pyproject: str | bytes | None = None
    #: (kind, name, value) secrets to store in moto first: kind is "ssm", "string" or "binary".
    secrets: tuple[tuple[str, str, Any], ...] = ()
    tool: str = "invoke"


PY = "pyproject.toml"
_RAW_HEAD = '[project]\nname = "badapp"\nversion = "1.0"\n'
_RAW = (
    _RAW_HEAD
    + '[tool.shipyard.environments.staging]\ntarget = "docker"\nimage = "badapp"\nport = 1234\ndefault = true\n{}\n'
)
KEY = "tool.shipyard.environments.staging"
IMG = "tool.shipyard.images.app"
CASES: dict[str, Case] = {
    # --- deploy environments: the existing keys, checked when the config is read ---
    "port too big": Case(("history",), (PY, f"{KEY}.port", "1 to 65535", "70000"), _env(port=70000)),
    "port negative": Case(("history",), (f"{KEY}.port", "1 to 65535"), _env(port=-1)),
    "port zero": Case(("history",), (f"{KEY}.port", "1 to 65535"), _env(port=0)),
    "port a string": Case(("history",), (f"{KEY}.port", "must be int"), _env(port="80")),
    "health_path without slash": Case(
        ("history",), (f"{KEY}.health_path", "starting with '/'"), _env(health_path="healthz")
    ),
    "health_path with a space": Case(("history",), (f"{KEY}.health_path", "'/'"), _env(health_path="/health z")),
    "negative lock_ttl": Case(("history",), (f"{KEY}.lock_ttl", "positive"), _env(lock_ttl=-5)),
    "zero timeout": Case(("history",), (f"{KEY}.timeout", "positive"), _env(timeout=0)),
    "negative stop_timeout": Case(("history",), (f"{KEY}.stop_timeout", "positive"), _env(stop_timeout=-1)),
    "container name docker rejects": Case(
        ("history",), (f"{KEY}.container", "not a valid container name", "letters, digits"), _env(container="my app/1")
    ),
    "env name docker rejects": Case(
        ("history", "--env", "my env"),
        ("environments.my env", "not valid for docker"),
        lambda d: d["environments"].update({"my env": {"target": "docker", "image": "x", "port": 1234}}),
    ),
    "image empty": Case(("history",), (f"{KEY}.image", "is empty", 'image = "hello-service"'), _env(image="")),
    "image uppercase": Case(("history",), (f"{KEY}.image", "lowercase"), _env(image="BadApp")),
    "image with a tag": Case(("history",), (f"{KEY}.image", "tag or digest"), _env(image="badapp:1.0")),
    "image missing": Case(
        ("history",),
        (f"{KEY}.image", "missing required key", "add it"),
        lambda d: d["environments"]["staging"].pop("image"),
    ),
    "registry with scheme": Case(
        ("history",),
        (f"{KEY}.registry", "without a scheme", "'127.0.0.1:5000'"),
        _env(registry="http://127.0.0.1:5000"),
    ),
    "registry not ascii": Case(("history",), (f"{KEY}.registry", "ASCII"), _env(registry="régistry.example.com")),
    "registry port out of range": Case(("history",), (f"{KEY}.registry", "1-65535"), _env(registry="127.0.0.1:99999")),
    "host with scheme": Case(("history",), (f"{KEY}.host", "no scheme"), _env(host="http://127.0.0.1")),
    "docker_host without scheme": Case(
        ("history",), (f"{KEY}.docker_host", "unix://"), _env(docker_host="dockerhost:2375")
    ),
    "2 MB env value": Case(
        ("history",), (f"{KEY}.env.BIG", "MAX_ARG_STRLEN", "file"), _env(env={"BIG": "x" * 2_000_000})
    ),
    "env name with =": Case(("history",), (f"{KEY}.env", "not an environment variable name"), _env(env={"A=B": "1"})),
    "secret variable name with =": Case(
        ("history",), (f"{KEY}.secrets", "not an environment variable name"), _env(secrets={"A=B": "ssm:/x"})
    ),
    "env name with a space": Case(
        ("history",), (f"{KEY}.env", "'A B' is not an environment variable name"), _env(env={"A B": "1"})
    ),
    "env value a list": Case(("history",), (f"{KEY}.env.A", "must be a string"), _env(env={"A": [1]})),
    "secret bad scheme": Case(("history",), (f"{KEY}.secrets.TOKEN", "ssm:/"), _env(secrets={"TOKEN": "vault:x"})),
    "ssm name with a space": Case(
        ("history",),
        (f"{KEY}.secrets.T", "'/x y' is not a valid ssm name", "letters, digits"),
        _env(secrets={"T": "ssm:/x y"}),
    ),
    "secretsmanager name with a space": Case(
        ("history",), (f"{KEY}.secrets.T", "not a valid secretsmanager name"), _env(secrets={"T": "secretsmanager:a b"})
    ),
    "secret and env": Case(
        ("history",), (f"{KEY}.env.TOKEN", "keep one"), _env(env={"TOKEN": "a"}, secrets={"TOKEN": "ssm:/t"})
    ),
    "environments not a table": Case(
        ("history",), (PY, "tool.shipyard.environments", "table"), lambda d: d.update(environments=5)
    ),
    "environment not a table": Case(
        ("history",), (KEY, "must be a table"), lambda d: d["environments"].update(staging=5)
    ),
    "default not a bool": Case(("history",), (f"{KEY}.default", "must be bool"), _env(default="yes")),
    "timeout a string": Case(("history",), (f"{KEY}.timeout", "must be int or float"), _env(timeout="10")),
    "port a float": Case(("history",), (f"{KEY}.port", "must be int"), _env(port=80.5)),
    "env not a table": Case(("history",), (f"{KEY}.env", "must be dict"), _env(env="A=1")),
    "secret reference without a name": Case(("history",), (f"{KEY}.secrets.T", "ssm:/"), _env(secrets={"T": "ssm:"})),
    "health_path a URL": Case(("history",), (f"{KEY}.health_path", "'/'"), _env(health_path="http://x/healthz")),
    "host empty": Case(("history",), (f"{KEY}.host", "host name"), _env(host="")),
    "container leading dash": Case(("history",), (f"{KEY}.container", "container name"), _env(container="-web")),
    "registry namespace uppercase": Case(
        ("history",), (f"{KEY}.registry", "namespace"), _env(registry="127.0.0.1:5000/Team")
    ),
    "image with a digest": Case(
        ("history",), (f"{KEY}.image", "tag or digest"), _env(image="badapp@sha256:" + "d" * 64)
    ),
    "ecs empty cluster": Case(("history",), ("environments.prod.cluster", "is empty"), _ecs(cluster=" ")),
    "ecs bad bucket": Case(
        ("history",), ("environments.prod.history_bucket", "S3 bucket"), _ecs(history_bucket="My_Bucket")
    ),
    "region with spaces": Case(("history",), (f"{KEY}.region", "AWS region", "us-east-1"), _env(region="us east 1")),
    "unknown key": Case(("history",), (f"{KEY}.prot", "unknown key", "allowed keys"), _env(prot=80)),
    "unknown target": Case(("history",), (f"{KEY}.target", '"docker" or "ecs"'), _env(target="kubernetes")),
    "two defaults": Case(
        ("history",),
        (PY, "only one environment may set default"),
        lambda d: d["environments"].update({"b": {"target": "docker", "image": "x", "port": 1, "default": True}}),
    ),
    "ecs missing cluster": Case(
        ("history",),
        ("environments.prod.cluster", "missing required key"),
        lambda d: _ecs()(d) or d["environments"]["prod"].pop("cluster"),
    ),
    "ecs zero poll_interval": Case(
        ("history",), ("environments.prod.poll_interval", "positive"), _ecs(poll_interval=0)
    ),
    "malformed pyproject": Case(("history",), (PY, "invalid TOML", "fix the syntax"), raw_pyproject="[project\nname="),
    "timeout inf": Case(
        ("history",), (f"{KEY}.timeout", "positive", "inf"), raw_pyproject=_RAW.format("timeout = inf")
    ),
    "lock_ttl inf": Case(
        ("history",), (f"{KEY}.lock_ttl", "positive", "inf"), raw_pyproject=_RAW.format("lock_ttl = inf")
    ),
    "tool.shipyard a list": Case(
        ("history",), (PY, "tool.shipyard", "must be a table"), raw_pyproject=_RAW_HEAD + "[tool]\nshipyard = [1]\n"
    ),
    "tool a string": Case(("image.build",), (PY, "tool", "must be a table"), raw_pyproject='tool = "x"\n' + _RAW_HEAD),
    "pyproject not UTF-8": Case(
        ("history",), (PY, "UTF-8", "save it as UTF-8"), raw_pyproject=b'[project]\nname = "b\xff"\n'
    ),
    # --- command-line options ---
    "--env empty": Case(("deploy", "--env", ""), ("--env is empty", "staging", "leave --env out")),
    "--env unknown": Case(("history", "--env", "nope"), ("unknown environment 'nope'", "staging")),
    "--env near miss": Case(
        ("history", "--env", "stagin"), ("unknown environment 'stagin'", "did you mean 'staging'?")
    ),
    "--limit not a number": Case(("history", "--limit", "abc"), ("--limit", "whole number", "'abc'")),
    "--limit zero": Case(("history", "--limit", "0"), ("--limit", "at least 1")),
    "--limit negative": Case(("history", "--limit=-1"), ("--limit", "at least 1")),
    "--image empty": Case(("deploy", "--image", ""), ("--image", "empty")),
    "--limit a fraction": Case(("history", "--limit", "1.5"), ("--limit", "whole number")),
    "push --attempts abc": Case(("image.push", "--attempts", "abc"), ("--attempts", "whole number")),
    "push --timeout inf": Case(("image.push", "--timeout", "inf"), ("--timeout", "positive")),
    "push --timeout nan": Case(("image.push", "--timeout", "nan"), ("--timeout", "positive")),
    "--image not a ref": Case(("deploy", "--image", "Not A Ref!!"), ("--image", "not an image reference")),
    "--image bad repository": Case(("deploy", "--image", "Acme/App@sha256:" + "a" * 64), ("--image", "lowercase")),
    "--image bad digest": Case(("deploy", "--image", "acme/app@sha256:abc"), ("--image", "64 lowercase hex")),
    "--image tag on docker": Case(("deploy", "--image", "acme/app:latest"), ("--image", "no digest", "@sha256:")),
    "--image a short image id": Case(
        ("deploy", "--image", "sha256:abc"), ("--image 'sha256:abc'", "not an image id", "64 lowercase hex digits")
    ),
    "--image an uppercase image id": Case(
        ("deploy", "--image", "sha256:" + "B" * 64), ("--image", "not an image id", "lowercase")
    ),
    "push --attempts 0": Case(("image.push", "--attempts", "0"), ("--attempts", "at least 1")),
    "push --timeout -5": Case(("image.push", "--timeout=-5"), ("--timeout", "positive number of seconds")),
    "push --timeout abc": Case(("image.push", "--timeout", "abc"), ("--timeout", "positive")),
    "push --registry with scheme": Case(
        ("image.push", "--registry", "http://127.0.0.1:5000"), ("--registry", "without a scheme")
    ),
    "push --registry not ascii": Case(("image.push", "--registry", "régistry:5000"), ("--registry", "ASCII")),
    "push $SHIPYARD_REGISTRY with scheme": Case(
        ("image.push",), ("$SHIPYARD_REGISTRY", "without a scheme"), env={"SHIPYARD_REGISTRY": "https://reg.example"}
    ),
    # --- images ---
    "repository uppercase": Case(("image.build",), (f"{IMG}.repository", "lowercase"), _image(repository="Acme/App")),
    "repository with tag": Case(
        ("image.build",), (f"{IMG}.repository", "no tag or digest"), _image(repository="acme/app:1")
    ),
    "repository bad separator": Case(
        ("image.build",), (f"{IMG}.repository", "separators"), _image(repository="acme/-app")
    ),
    "context outside the project": Case(("image.build",), (f"{IMG}.context", "outside"), _image(context="..")),
    "dockerfile outside the context": Case(
        ("image.build",), (f"{IMG}.dockerfile", "outside"), _image(dockerfile="../Dockerfile")
    ),
    "images not a table": Case(("image.build",), ("tool.shipyard.images", "table"), lambda d: d.update(images=5)),
    "image missing repository": Case(
        ("image.build",), (f"{IMG}.repository", "missing required key"), lambda d: d["images"]["app"].pop("repository")
    ),
    "build-args not strings": Case(
        ("image.build",), (f"{IMG}.build-args.N", "must be a string"), _image(**{"build-args": {"N": 1}})
    ),
    "dockerfile missing": Case(("image.build",), (f"{IMG}.dockerfile", "does not exist"), _image(dockerfile="Nope")),
    "python not major.minor": Case(("image.build",), (f"{IMG}.python", "major.minor"), _image(python="3.11.4")),
    "target not a stage name": Case(("image.build",), (f"{IMG}.target", "stage name"), _image(target="run time")),
    "context missing": Case(("image.build",), (f"{IMG}.context", "does not exist"), _image(context="nope")),
    "package unknown": Case(("image.build",), (f"{IMG}.package", "not a package"), _image(package="other")),
    "unknown image name": Case(("image.build", "--name", "web"), ("no image 'web'", "add a")),
    "image name near miss": Case(("image.build", "--name", "ap"), ("no image 'ap'", "did you mean 'app'?")),
    "version docker rejects as a tag": Case(
        ("image.build",),
        ("acme/badapp:1.0.0+local", "tag", "set a version"),
        lambda d: d.update(version="1.0.0+local"),
        code=1,
    ),
    "host that does not resolve": Case(
        ("deploy", "--image", "sha256:" + "b" * 64),
        (f"{KEY}.host", "does not resolve", "fix the host"),
        _env(host="no-such-host.invalid"),
    ),
    # --- secrets read through a real moto server ---
    "secret stored as non-text SecretBinary": Case(
        ("deploy", "--image", "sha256:" + "b" * 64),
        ("secretsmanager:bin-secret", "TOKEN", "SecretBinary", "SecretString"),
        _env(secrets={"TOKEN": "secretsmanager:bin-secret"}),
        code=1,
        secrets=(("binary", "bin-secret", b"\xff\xfe\x00\x01"),),
    ),
    "secret too short (ssm)": Case(
        ("deploy", "--image", "sha256:" + "b" * 64),
        ("ssm:/badapp/pin", "PIN", "too short", "at least 4"),
        _env(secrets={"PIN": "ssm:/badapp/pin"}),
        secrets=(("ssm", "/badapp/pin", "123"),),
    ),
    "secret short once its newline is stripped (ssm)": Case(
        ("deploy", "--image", "sha256:" + "b" * 64),
        ("ssm:/badapp/nl", "PIN", "3 character(s) long without surrounding whitespace", "at least 4"),
        _env(secrets={"PIN": "ssm:/badapp/nl"}),
        secrets=(("ssm", "/badapp/nl", "abc\n"),),
    ),
    "secret too short (binary secrets manager)": Case(
        ("deploy", "--image", "sha256:" + "b" * 64),
        ("secretsmanager:shortbin", "KEY", "too short"),
        _env(secrets={"KEY": "secretsmanager:shortbin"}),
        secrets=(("binary", "shortbin", b"ab"),),
    ),
    "secret too short (secrets manager)": Case(
        ("deploy", "--image", "sha256:" + "b" * 64),
        ("secretsmanager:short", "KEY", "too short"),
        _env(secrets={"KEY": "secretsmanager:short"}),
        secrets=(("string", "short", "ab"),),
    ),
    "secret missing": Case(
        ("deploy", "--image", "sha256:" + "b" * 64),
        ("ssm:/badapp/missing", "ParameterNotFound"),
        _env(secrets={"X": "ssm:/badapp/missing"}),
        code=1,
        secrets=(("ssm", "/badapp/other", "value-1234"),),
    ),
    # --- nox on a malformed pyproject (python_versions() runs while nox imports the noxfile) ---
    "nox: malformed pyproject": Case(("-l",), (PY, "invalid TOML"), raw_pyproject="[project\n", tool="nox"),
    "nox: project a list": Case(
        ("-l",), (PY, "project", "must be a table"), raw_pyproject="project = [1]\n", tool="nox"
    ),
    "nox: classifiers not strings": Case(
        ("-l",),
        (PY, "project.classifiers", "list of strings"),
        raw_pyproject="[project]\nclassifiers = [1]\n",
        tool="nox",
    ),
    "nox: no classifiers": Case(("-l",), ("project", "add `requires-python`"), tool="nox"),
}

NOXFILE = f"""\
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / "src")!r})
import nox
import shipyard.nox

@nox.session(python=shipyard.nox.python_versions())
def tests(session):
    pass
"""


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def _store(moto: MotoServer, secrets: tuple[tuple[str, str, Any], ...]) -> None:
    for kind, name, value in secrets:
        if kind == "ssm":
            moto.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)  # type: ignore[attr-defined]
        else:
            key = "SecretBinary" if kind == "binary" else "SecretString"
            moto.client("secretsmanager").create_secret(Name=name, **{key: value})  # type: ignore[attr-defined]


def _project(root: Path, case: Case) -> None:
    data = _base()
    if case.edit is not None:
        case.edit(data)
    if isinstance(case.raw_pyproject, bytes):
        (root / PY).write_bytes(case.raw_pyproject)
    elif case.raw_pyproject is not None:
        (root / PY).write_text(case.raw_pyproject)
    else:
        _write_pyproject(root / PY, data)
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    (root / "noxfile.py").write_text(NOXFILE)


def _run(root: Path, case: Case, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_", "GITHUB_"))}
    env.update({"CI": "true", "AWS_CONFIG_FILE": str(root / "no-aws"), **extra_env, **case.env})
    argv = [INVOKE, *case.argv] if case.tool == "invoke" else [sys.executable, "-m", "nox", *case.argv]
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


pytestmark = pytest.mark.slow  # one real CLI process per row


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[pytest.mark.aws] if CASES[name].secrets else []) for name in CASES]
)
def test_a_bad_input_is_one_line_naming_where_and_how_to_fix(name: str, tmp_path: Path, request: Any) -> None:
    case = CASES[name]
    root = tmp_path / "badapp"
    root.mkdir()
    _project(root, case)
    extra: dict[str, str] = {}
    if case.secrets:
        moto: MotoServer = request.getfixturevalue("moto")
        _store(moto, case.secrets)
        extra = moto.env
    proc = _run(root, case, extra)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == case.code, output
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith(f"{case.tool}: error: "), line
    for needle in case.needles:
        assert needle in line, f"{needle!r} not in {line!r}"
