"""Skipping what is proven: every job of a fixture project's generated ci.yml through ``shipyard ci run``, first
cold (the S3 store on a moto server is empty), then all cached from a fresh checkout state (no local cache, as a
new runner), each job a process of its own as on GitHub. Goal: the all-cached run of every job under 10 s in all.

Usage: ``python benchmarks/bench_ci_cache.py [--sleep 2]`` (through nox: ``nox -s bench -- ci_cache``).
``--sleep`` is how long each fixture session works when it really runs (default 2 s).
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
SHIPYARD = str(Path(sys.executable).parent / "shipyard")
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
cache-store = "s3://bench-ci-cache/ci"
cache-aws-role = "arn:aws:iam::123456789012:role/shipyard-cache"
cache-aws-region = "us-east-1"
"""


def _fixture(root: Path, sleep: float) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("VALUE = 1\n")
    (root / "noxfile.py").write_text(NOXFILE.format(sleep=sleep))
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    (root / "pyproject.toml").write_text(PYPROJECT.format(root=ROOT))
    env = {k: v for k, v in os.environ.items() if k not in ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")}
    for argv in (["uv", "lock"], ["uv", "sync", "--locked"]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True, timeout=600, env=env)
    subprocess.run([SHIPYARD, "ci", "generate", "--root", str(root)], check=True, capture_output=True)


def _every_job(root: Path, jobs: list[str], env: dict[str, str]) -> dict[str, float]:
    shutil.rmtree(root / ".shipyard", ignore_errors=True)  # a fresh runner: only the shared store knows anything
    times = {}
    for job in jobs:
        start = time.perf_counter()
        done = subprocess.run(
            [SHIPYARD, "ci", "run", job, "--root", str(root)], env=env, capture_output=True, text=True, check=False
        )
        times[job] = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"job {job} failed:\n{done.stdout}{done.stderr}")
    return times


def main(argv: list[str]) -> int:
    from shipyard.testing import moto_server

    sleep = float(argv[argv.index("--sleep") + 1]) if "--sleep" in argv else 2.0
    jobs = ["lint", "typecheck", "tests", "build"]
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-ci-cache-") as tmp, moto_server() as moto:
        root = Path(tmp) / "app"
        _fixture(root, sleep)
        moto.client("s3").create_bucket(Bucket="bench-ci-cache")  # type: ignore[attr-defined]
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_", "GITHUB_"))}
        env = {**keep, **moto.env, "SHIPYARD_CACHE_SIGNING_KEY": KEY, "GITHUB_RUN_ID": "1"}
        env |= {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app"}
        cold = _every_job(root, jobs, env)
        cached = _every_job(root, jobs, {**env, "GITHUB_RUN_ID": "2"})
    print(f"{'job':<12}{'cold (s)':>10}{'cached (s)':>12}")
    for job in jobs:
        print(f"{job:<12}{cold[job]:>10.2f}{cached[job]:>12.2f}")
    total_cold, total_cached = sum(cold.values()), sum(cached.values())
    print(f"{'all jobs':<12}{total_cold:>10.2f}{total_cached:>12.2f}")
    verdict = "met" if total_cached < 10 else "MISSED"
    print(f"all-cached `shipyard ci run` of every job: {total_cached:.2f} s (goal < 10 s: {verdict}); ", end="")
    print(f"{total_cached / total_cold:.2f}x the cold run")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
