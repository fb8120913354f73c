"""Skipping what is proven: every job of a fixture project's generated ci.yml through ``shipyard ci run``, first
cold (the S3 store on a moto server is empty), then all cached from a fresh checkout state (no local cache, as a
new runner), each job a process of its own as on GitHub. Goal: the all-cached run of every job under 10 s in all.

With ``--before REV`` the same runs are made side by side with Shipyard as it was at git revision REV (exported
with ``git archive``; its ``ci run`` and the fixture's venv both use that source), interleaved so that both see
the same machine load: the table then shows what the change bought.

``--this-repo`` also measures this repository's own cached jobs (lint, typecheck, lock, workflows) in this
checkout, proving them into an empty bucket, then all cached.

Usage: ``python benchmarks/bench_ci_cache.py [--sleep 2] [--repeat 3] [--before REV] [--this-repo]`` (through
nox: ``nox -s bench -- ci_cache``). ``--sleep`` is how long each fixture session works when it really runs
(default 2 s); the all-cached pass is made ``--repeat`` times and each job's best time is kept (the machine is
shared, its load varies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-ci-cache-signing-key-32chr"

NOXFILE = """
import time

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "build"]


@nox.session(venv_backend="none", python=False)
def lint(session):
    time.sleep({sleep})


@nox.session(venv_backend="none")
def typecheck(session):
    time.sleep({sleep})


@nox.session(venv_backend="none")
def tests(session):
    time.sleep({sleep})


@nox.session(venv_backend="none")
def build(session):
    import pathlib

    time.sleep({sleep})
    pathlib.Path("dist").mkdir(exist_ok=True)
    pathlib.Path("dist/app-1.0.tar.gz").write_text("sdist")
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
files = ["src/**/*.py", "noxfile.py"]
env = []

[tool.shipyard.ci]
cache-store = "s3://{bucket}/ci"
cache-aws-role = "arn:aws:iam::123456789012:role/shipyard-cache"
cache-aws-region = "us-east-1"
"""


def _fixture(root: Path, sleep: float, source: Path, bucket: str) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("VALUE = 1\n")
    (root / "noxfile.py").write_text(NOXFILE.format(sleep=sleep))
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    (root / "pyproject.toml").write_text(PYPROJECT.format(root=source, bucket=bucket))
    env = {k: v for k, v in os.environ.items() if k not in ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")}
    for argv in (["uv", "lock"], ["uv", "sync", "--locked"]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True, timeout=600, env=env)
    shipyard = [sys.executable, "-m", "shipyard", "ci", "generate", "--root", str(root)]
    subprocess.run(shipyard, check=True, capture_output=True, env={**env, "PYTHONPATH": str(source / "src")})


def _export(rev: str, into: Path) -> Path:
    """Shipyard's source at ``rev`` (``git archive``), to run the same benchmark against."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _every_job(
    root: Path, jobs: list[str], env: dict[str, str], source: Path, *, fresh: bool = True
) -> dict[str, float]:
    if fresh:
        shutil.rmtree(root / ".shipyard", ignore_errors=True)  # a fresh runner: only the shared store knows anything
    times = {}
    # `python -m shipyard` with this source first on the path: the `ci run` of that version of Shipyard.
    env = {**env, "PYTHONPATH": str(source / "src")}
    for job in jobs:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "shipyard", "ci", "run", job, "--root", str(root)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        times[job] = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"job {job} failed:\n{done.stdout}{done.stderr}")
    return times


def _row(label: str, values: list[float]) -> str:
    return f"{label:<12}" + "".join(f"{value:>20.2f}" for value in values)


def _this_repository(moto: object, env: dict[str, str], repeat: int) -> None:
    """This repository's own cached jobs (the ones whose step is ``invoke check --only``), against an empty
    bucket named as its ``cache-store`` on the same moto server: first proving them (each session really runs,
    though nox venvs and tool caches on this machine are warm), then all cached. Run in this checkout; with a shared
    store configured nothing is written to its local cache but ``.shipyard/runs`` and the listing."""
    from shipyard.ci import load_config
    from shipyard.ci._plan import plan

    bucket = load_config(ROOT).cache_store.removeprefix("s3://").partition("/")[0]
    moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    jobs = [job.id for job in plan(ROOT) if any("invoke check --only" in c for c in job.commands())]
    env = {**env, "GITHUB_RUN_ID": "101", "GITHUB_REPOSITORY": "shipyard/shipyard"}
    cold = _every_job(ROOT, jobs, env, ROOT, fresh=False)
    passes = [_every_job(ROOT, jobs, {**env, "GITHUB_RUN_ID": str(102 + n)}, ROOT, fresh=False) for n in range(repeat)]
    cached = {job: min(run[job] for run in passes) for job in jobs}
    print(f"\nthis repository's cached jobs (s){'proving':>12}{'cached':>12}")
    for job in jobs:
        print(f"{job:<32}{cold[job]:>12.2f}{cached[job]:>12.2f}")
    print(f"{'all':<32}{sum(cold.values()):>12.2f}{sum(cached.values()):>12.2f}")


def main(argv: list[str]) -> int:
    from shipyard.testing import moto_server

    sleep = float(argv[argv.index("--sleep") + 1]) if "--sleep" in argv else 2.0
    before = argv[argv.index("--before") + 1] if "--before" in argv else None
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    jobs = ["lint", "typecheck", "tests", "build"]
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-ci-cache-") as tmp, moto_server() as moto:
        variants = {"now": ROOT}
        if before:
            variants = {f"at {before}": _export(before, Path(tmp) / "before"), **variants}
        roots = {}
        for index, (name, source) in enumerate(variants.items()):
            bucket = f"bench-ci-cache-{index}"
            moto.client("s3").create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
            roots[name] = Path(tmp) / f"app-{index}"
            _fixture(roots[name], sleep, source, bucket)
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_", "GITHUB_"))}
        keep.pop("PYTHONPATH", None)
        env = {**keep, **moto.env, "SHIPYARD_CACHE_SIGNING_KEY": KEY, "GITHUB_RUN_ID": "1"}
        env |= {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app"}
        # Interleaved (every variant cold, then every variant cached): both see the same load.
        cold = {name: _every_job(roots[name], jobs, env, variants[name]) for name in variants}
        # The all-cached pass `repeat` times, interleaved; each job's best time counts (the machine is shared).
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for attempt in range(repeat):
            for name in variants:
                ids = {**env, "GITHUB_RUN_ID": str(2 + attempt)}
                runs[name].append(_every_job(roots[name], jobs, ids, variants[name]))
        cached = {name: {job: min(run[job] for run in runs[name]) for job in jobs} for name in variants}
        if "--this-repo" in argv:
            _this_repository(moto, env, repeat)
    header = "".join(f"{f'{kind} {name}':>20}" for name in variants for kind in ("cold", "cached"))
    print(f"{'job (s)':<12}{header}   (cached: each job's best of {repeat} all-cached passes)")
    for job in jobs:
        print(_row(job, [t[job] for name in variants for t in (cold[name], cached[name])]))
    totals = {name: (sum(cold[name].values()), sum(cached[name].values())) for name in variants}
    print(_row("all jobs", [value for name in variants for value in totals[name]]))
    total_cold, total_cached = totals["now"]
    verdict = "met" if total_cached < 10 else "MISSED"
    print(f"all-cached `shipyard ci run` of every job: {total_cached:.2f} s (goal < 10 s: {verdict}); ", end="")
    print(f"{total_cached / total_cold:.2f}x the cold run")
    if before:
        then = totals[f"at {before}"][1]
        print(f"all-cached now vs at {before}: {total_cached:.2f} s vs {then:.2f} s ({total_cached / then:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
