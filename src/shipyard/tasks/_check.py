"""``invoke check``: the noxfile's default sessions in parallel, then build, each the same nox session CI runs.

The stages are the sessions ``nox -l --json`` lists (what a bare ``nox`` would run), so a project gets a stage for
every session it defines and none it does not. ``[tool.shipyard.check]`` in pyproject.toml narrows or arranges
them (all keys optional; docs/pipeline.md, "invoke check"):

    [tool.shipyard.check]
    parallel = ["lint", "typecheck", "tests"]   # sessions run side by side (default: every listed session)
    then = ["build"]                            # sessions run once all of those passed (default: build, if defined)
    light = ["lint"]                            # sessions not bounded by the CPU limit (default: lint, if defined)
    files = ["src/**/*.py", "pyproject.toml"]   # narrow the inputs (default: every git-tracked or untracked,
                                                # not ignored file)
    session-files = { lint = ["src/**/*.py"] }  # one session's inputs instead of `files` (tests changed: lint
                                                # stays proven); noxfile.py is always one
    env = ["CI"]                                # declared env vars: their values (keyed hash) enter the key
    outputs = { build = "dist/*" }              # files a session produces, restored on a cache hit

Every stage's key also holds uv.lock, the interpreter and the stage's parameters. The configuration is checked
(types, session names) before anything runs; a mistake is one line naming the key.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.tasks._base import shipyard_task

if TYPE_CHECKING:
    from shipyard.pipeline import Pipeline, StageContext

__all__ = ["build_check_pipeline", "check", "nox_sessions"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = "tool.shipyard.check"


def _strings(value: Any, *, file: str, key: str, what: str = "session names (strings)") -> list[str]:
    from shipyard._errors import ConfigError

    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"must be a list of {what}, got {value!r}", file=file, key=key)
    return list(value)


def _relative_glob(glob: str, *, file: str, key: str) -> None:
    from shipyard._errors import ConfigError

    if glob.startswith("/") or ".." in Path(glob).parts or "\\" in glob:
        raise ConfigError(f"{glob!r} must be a glob relative to the project root", file=file, key=key)


def _config(root: Path) -> dict[str, Any]:
    """The table with its types checked (no session names yet: that needs the noxfile's listing)."""
    from shipyard._errors import ConfigError
    from shipyard._pyproject import Field, load, validate_table

    file = str(root / "pyproject.toml")
    table: Any = load(root / "pyproject.toml")
    for depth, name in enumerate(("tool", "shipyard", "check")):
        table = table.get(name, {})
        if not isinstance(table, dict) and depth < 2:  # `[tool] shipyard = 1`: one line, not an AttributeError
            key = ".".join(("tool", "shipyard")[: depth + 1])
            raise ConfigError(f"must be a table, got {type(table).__name__}", file=file, key=key)
    config = validate_table(
        table,
        {
            "parallel": Field(list),
            "then": Field(list),
            "light": Field(list),
            "files": Field(list),
            "env": Field(list, default=["CI"]),
            "outputs": Field(dict),
            "session-files": Field(dict, default={}),
        },
        file=file,
        key=_KEY,
    )
    for name in ("parallel", "then", "light"):
        if config[name] is not None:
            config[name] = _strings(config[name], file=file, key=f"{_KEY}.{name}")
            twice = [s for i, s in enumerate(config[name]) if s in config[name][:i]]
            if twice:
                raise ConfigError(f"{twice[0]!r} is listed twice; list it once", file=file, key=f"{_KEY}.{name}")
    if config["files"] is not None:
        config["files"] = _strings(config["files"], file=file, key=f"{_KEY}.files", what="globs (strings)")
        if not config["files"]:
            # No inputs would make every change a cache hit: a false pass.
            raise ConfigError(
                "must list at least one glob (leave the key out to hash every project file)",
                file=file,
                key=f"{_KEY}.files",
            )
        for glob in config["files"]:
            _relative_glob(glob, file=file, key=f"{_KEY}.files")
    config["session-files"] = _session_files(config["session-files"], file=file)
    config["env"] = _strings(config["env"], file=file, key=f"{_KEY}.env", what="variable names (strings)")
    for name in config["env"]:
        if not _ENV_NAME.fullmatch(name):
            raise ConfigError(f"{name!r} is not an environment variable name", file=file, key=f"{_KEY}.env")
    outputs: dict[str, list[str]] = {}
    explicit = config["outputs"] is not None
    for session, value in (config["outputs"] if explicit else {"build": "dist/*"}).items():
        key = f"{_KEY}.outputs.{session}"
        globs = [value] if isinstance(value, str) and value else value
        outputs[session] = _strings(globs, file=file, key=key, what="globs, or one glob string")
        for glob in outputs[session]:
            _relative_glob(glob, file=file, key=key)
    config["outputs"] = outputs
    config["explicit_outputs"] = explicit
    return config


def _session_files(table: dict[str, Any], *, file: str) -> dict[str, list[str]]:
    from shipyard._errors import ConfigError

    checked: dict[str, list[str]] = {}
    for session, globs in table.items():
        key = f"{_KEY}.session-files.{session}"
        checked[session] = _strings(globs, file=file, key=key, what="globs (strings)")
        if not globs:
            # No inputs would make every change a cache hit: a false pass.
            raise ConfigError("must list at least one glob (leave the session out to use files)", file=file, key=key)
        for glob in globs:
            _relative_glob(glob, file=file, key=key)
    return checked


def nox_sessions(root: Path, *, refresh: bool = False) -> list[str]:
    """The session names a bare ``nox`` runs in ``root`` (``nox -l --json``), cached on what decides them
    (``shipyard._nox_listing``: the noxfile, its importable modules, pyproject.toml, uv.lock, the interpreter,
    PATH)."""
    from shipyard._errors import ConfigError
    from shipyard._nox_listing import cached_listing, stamp, traced

    noxfile = root / "noxfile.py"
    if not noxfile.is_file():
        raise ConfigError(f"{noxfile} does not exist: `invoke check` runs the noxfile's sessions; add one")

    def listing(trace: Mapping[str, str]) -> list[str]:
        from shipyard._command import run

        argv = [sys.executable, "-m", "nox", "-l", "--json"]
        listed = run(traced(argv) or argv, cwd=root, env=trace, check=False)
        lines = [line for line in listed.output.splitlines() if line.startswith("[")]
        try:
            entries = json.loads(lines[-1])
            return list(dict.fromkeys(str(entry["name"]) for entry in entries))
        except (IndexError, ValueError, KeyError, TypeError):
            detail = (listed.output.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"`nox -l --json` failed ({detail}); fix the noxfile", file=str(noxfile)) from None

    names = cached_listing(
        root, "nox-sessions", stamp(root, noxfile), listing, kind=list, environ=os.environ, refresh=refresh
    )
    return [str(name) for name in names]


def _arrange(config: dict[str, Any], sessions: list[str], *, file: str) -> tuple[list[str], list[str], list[str]]:
    """parallel, then and light from the config and the noxfile's sessions; unknown names are errors."""
    from shipyard._errors import ConfigError

    known = ", ".join(sessions) or "none"
    for name in ("parallel", "then", "light"):
        for session in config[name] or []:
            if session not in sessions:
                raise ConfigError(
                    f"{session!r} is not a session `nox -l` lists (sessions: {known}); fix the name or the noxfile",
                    file=file,
                    key=f"{_KEY}.{name}",
                )
    named = [(s, "outputs") for s in (config["outputs"] if config["explicit_outputs"] else ())]
    for session, where in [*named, *((s, "session-files") for s in config["session-files"])]:
        if session not in sessions:
            raise ConfigError(
                f"{session!r} is not a session `nox -l` lists (sessions: {known})", file=file, key=f"{_KEY}.{where}"
            )
    then = config["then"] if config["then"] is not None else [s for s in ("build",) if s in sessions]
    parallel = config["parallel"] if config["parallel"] is not None else [s for s in sessions if s not in then]
    both = [s for s in then if s in parallel]
    if both:
        raise ConfigError(f"{both[0]!r} is in both parallel and then; keep it in one", file=file, key=f"{_KEY}.then")
    light = config["light"] if config["light"] is not None else [s for s in ("lint",) if s in sessions]
    if not parallel and not then:
        raise ConfigError("no sessions to run: the noxfile lists none and none are configured", file=file, key=_KEY)
    return parallel, then, light


def _session_stage(session: str, root: Path, outputs_globs: list[str] | None) -> Any:
    async def body(ctx: StageContext) -> dict[str, Any] | None:
        import tempfile

        from shipyard.pipeline import FileArtifact

        # The same command CI runs for this session, with this interpreter's nox; its report says what ran.
        with tempfile.TemporaryDirectory(prefix="shipyard-check-") as tmp:
            report = Path(tmp) / "nox-report.json"
            await ctx.run([sys.executable, "-m", "nox", "-s", session, "--report", str(report)], cwd=ctx.root)
            ran = _session_results(report)
        skipped = [r for r in ran if r.get("result") != "success"]
        if skipped:
            # nox exits 0 when it skips a session (a missing interpreter, session.skip()): that is not a pass.
            name, reason = skipped[0].get("name"), skipped[0].get("reason") or "no reason given"
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            ctx.fail(f"nox skipped session {name}{more}: {reason}; a skipped session is not a pass")
            return None if outputs_globs is None else {f"{session}-outputs": []}
        ctx.summary = f"nox -s {session} passed" + (f" ({len(ran)} sessions)" if len(ran) > 1 else "")
        if outputs_globs is None:
            return None
        paths = sorted({p for glob in outputs_globs for p in ctx.root.glob(glob) if p.is_file()})
        return {f"{session}-outputs": [FileArtifact(p.relative_to(ctx.root).as_posix()) for p in paths]}

    body.__qualname__ = body.__name__ = f"session_{session}"
    return body


def _session_results(report: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(report.read_text())
        sessions = [s for s in data["sessions"] if isinstance(s, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return [{"name": report.name, "result": "unknown", "reason": "nox wrote no readable --report"}]
    return sessions or [{"name": "(none)", "result": "none", "reason": "nox ran no session"}]


def build_check_pipeline(root: Path, *, refresh: bool = False, only: str | None = None) -> Pipeline:
    """The check pipeline for the project at ``root`` (see the module docstring for its configuration).

    ``refresh`` lists the noxfile's sessions again instead of trusting the cached listing (``--no-cache``).
    ``only`` is one session run alone as one cached stage (what a CI job runs): any session ``nox -l`` lists,
    or one the noxfile defines but does not run by default, named as ``nox -s`` takes it."""
    from shipyard.pipeline import Pipeline, stage

    config = _config(root)  # types first: a typo costs no nox start
    if only is not None:
        from shipyard._errors import ConfigError

        if not re.fullmatch(r"[A-Za-z0-9_.\-]+(\([^()]*\))?(-[0-9.]+)?", only):
            raise ConfigError(f"{only!r} is not a nox session name; pass one `nox -l` lists", key="--only")
        # One stage, no `nox -l` (a CI job's second of start-up): nox itself refuses a session it does not define.
        # Its key is its own inputs, never another session's (no `after` edge); only its own outputs are left out
        # of them (leaving out more could hide a changed input).
        parallel, then = [only], list[str]()
        light = config["light"] if config["light"] is not None else ["lint"]
        produced = tuple(config["outputs"].get(only, ()))
    else:
        sessions = nox_sessions(root, refresh=refresh)
        parallel, then, light = _arrange(config, sessions, file=str(root / "pyproject.toml"))
        # Outputs are never inputs: a build writing dist/ must not change the next run's key.
        # Only the outputs of sessions that run: a project without a build session may keep sources in dist/.
        staged = {*parallel, *then}
        produced = tuple(glob for session, globs in config["outputs"].items() if session in staged for glob in globs)
    pipeline = Pipeline("check")
    for session in [*parallel, *then]:
        outputs = config["outputs"].get(session)
        files = config["session-files"].get(session, config["files"])
        spec = stage(
            session,
            # The noxfile holds the session's commands: narrowed inputs never leave it out.
            files=(*files, NOXFILE) if files is not None and NOXFILE not in files else (files or ()),
            project_files=files is None,
            exclude=produced,
            env=config["env"],
            after=parallel if session in then else (),
            produces=[f"{session}-outputs"] if outputs else (),
            params={"session": session, "outputs": outputs},
            cpu=session not in light,
            cache=True,
        )(_session_stage(session, root, outputs))
        pipeline.add(spec)
    return pipeline


#: The noxfile, an input of every session (its commands), whatever ``files``/``session-files`` name.
NOXFILE = "noxfile.py"


#: ``s3://bucket[/prefix]``: the shared cache store ``invoke check`` reads and writes (entries HMAC-signed with
#: ``SHIPYARD_CACHE_SIGNING_KEY``; ``SHIPYARD_CACHE_READ_ONLY=1`` for runs that must not write, e.g. forks' PRs).
STORE_ENV = "SHIPYARD_CACHE_STORE"


def configured_store(environ: Mapping[str, str]) -> Any:
    """The shared store ``$SHIPYARD_CACHE_STORE`` names (None: the local cache only)."""
    url = environ.get(STORE_ENV, "").strip()
    if not url:
        return None
    from shipyard._errors import ConfigError

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ConfigError(f"{url!r} is not an S3 store; use s3://BUCKET or s3://BUCKET/PREFIX", key=f"${STORE_ENV}")
    if environ.get(CREDENTIALS_ENV, "").strip() == "failure":
        return NoCredentialsStore(url)
    from shipyard.pipeline import S3Store

    return S3Store(bucket, prefix=(prefix.strip("/") + "/") if prefix.strip("/") else "shipyard-cache/")


#: The outcome of the job's credentials step for the store (``${{ steps.<id>.outcome }}``). The step may fail (the
#: role does not exist yet, OIDC is not set up) without failing the job: then the store is known to be out of reach.
CREDENTIALS_ENV = "SHIPYARD_CACHE_CREDENTIALS"


class NoCredentialsStore:
    """The shared store of a job whose credentials step failed: every call raises, which the run says once (a
    ``::warning::`` in Actions) and turns into misses and no writes, so the session runs and decides the job."""

    shared = True

    def __init__(self, url: str) -> None:
        self.url = url

    def _fail(self) -> None:
        from shipyard.pipeline._s3 import CacheStoreError

        raise CacheStoreError(
            f"{self.url}: the job's AWS credentials step failed (${CREDENTIALS_ENV}=failure: the role cannot be "
            "assumed or OIDC is not set up, see docs/ci.md); the session runs without the shared store"
        )

    def get(self, key: str) -> bytes | None:
        self._fail()
        return None

    def put(self, key: str, data: bytes) -> None:
        self._fail()


@shipyard_task(
    help={
        "plan": "print the stage graph and exit without running anything",
        "no_cache": "run every stage even if its inputs are unchanged",
        "explain": "say what each stage's key hashed and which inputs changed for each cache miss",
        "keep_going": "after a failure, run every stage that does not depend on it",
        "only": "run one session alone as one cached stage (what a generated CI job runs)",
    }
)
def check(  # noqa: PLR0917 - invoke maps each parameter to a flag
    c: Any,
    plan: bool = False,
    no_cache: bool = False,
    explain: bool = False,
    keep_going: bool = False,
    only: str | None = None,
) -> None:
    """The noxfile's sessions in parallel, then build: what CI runs, cached by content."""
    from shipyard import _logging
    from shipyard._pyproject import find_root
    from shipyard.pipeline import RunOptions

    root = find_root()
    pipeline = build_check_pipeline(root, refresh=no_cache, only=only or None)
    if plan:
        print(pipeline.plan())  # noqa: T201 - tasks are where output is printed
        return
    _logging.configure()
    options = RunOptions(
        root=root, use_cache=not no_cache, explain=explain, keep_going=keep_going, store=configured_store(os.environ)
    )
    report = pipeline.run(options, check=False)
    # JSON asked for (--log-format json, SHIPYARD_LOG_FORMAT=json) means stderr is JSON lines only.
    json_only = _logging.json_requested()
    if _logging.output_mode() == "json" and not json_only:
        # The JSON events carry the output escaped; print it plainly so a human can read it (plain lines have it).
        for failed in report.failed:
            print(f"--- {failed.name} failed: {failed.error}\n{failed.output}", file=sys.stderr)  # noqa: T201
    _say_results(report, explain=explain, json_only=json_only)
    if not report.ok:
        from shipyard.pipeline import StageFailed

        raise StageFailed(report)


def _say_results(report: Any, *, explain: bool, json_only: bool) -> None:
    """Each restored stage's producing run, and with ``explain`` what each key hashed and why it missed."""
    from shipyard import _logging

    for result in report.stages:
        if result.state.value == "cached" and result.origin:
            if json_only:
                _logging.get_logger("pipeline").info("cached", stage=result.name, origin=result.origin)
            else:
                print(f"{result.name}: cached (from run {result.origin})", file=sys.stderr)  # noqa: T201
    if explain:
        for result in report.stages:
            if result.inputs and json_only:
                _logging.get_logger("pipeline").info("cache inputs", stage=result.name, inputs=result.inputs)
            elif result.inputs:
                print(f"{result.name}: hashed {result.inputs}", file=sys.stderr)  # noqa: T201
            if result.miss_reason and json_only:
                _logging.get_logger("pipeline").info("cache miss", stage=result.name, reason=result.miss_reason)
            elif result.miss_reason:
                print(f"{result.name}: cache miss: {result.miss_reason}", file=sys.stderr)  # noqa: T201
