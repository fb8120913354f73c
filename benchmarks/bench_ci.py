"""CI at scale: the longest of 4 test shards vs the whole tests run, and peak memory of a 1 GB artifact through the
S3 store (moto server in its own process, so only the client's memory is measured).

Usage: ``python benchmarks/bench_ci.py [--size-mb 1024] [--skip-shards] [--skip-s3] [-- PYTEST PATHS...]``
(through nox: ``nox -s bench -- ci``). Shards run one after another, as the issue asks, with this venv's pytest and
pytest-split balanced by the committed ``.test_durations``. Goals: longest shard <= 0.35x the whole run; peak
memory for 1 GB < 150 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CLIENT = textwrap.dedent(
    """
    import hashlib, os, resource, sys, tempfile, time
    from pathlib import Path
    from shipyard.pipeline import S3Store

    size_mb, mode = int(sys.argv[1]), sys.argv[2]
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-s3-"))
    source, dest = tmp / "artifact.bin", tmp / "restored.bin"
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with source.open("wb") as fh:
        for i in range(size_mb):
            chunk = i.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            fh.write(chunk)
    store = S3Store(os.environ["BENCH_BUCKET"])
    store.client.create_bucket(Bucket=store.bucket)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if mode == "stream":
        assert store.put_file("a" * 64, source)
        assert store.get_file("a" * 64, dest, sha256=digest.hexdigest())
    else:
        store.put("a" * 64, source.read_bytes())
        dest.write_bytes(store.get("a" * 64) or b"")
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = dest.stat().st_size == source.stat().st_size
    for p in (source, dest):
        p.unlink()
    tmp.rmdir()
    print(f"{before:.0f} {peak:.0f} {elapsed:.1f} {ok}")
    """
)


def _moto() -> tuple[subprocess.Popen[bytes], str]:
    from shipyard.testing._ports import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def s3_memory(size_mb: int) -> None:
    proc, url = _moto()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        rows = []
        for mode, size in (("stream", size_mb), ("whole bytes (put/get)", min(size_mb, 256))):
            env["BENCH_BUCKET"] = f"bench-{mode.split()[0]}-{os.getpid()}"
            done = subprocess.run(
                [sys.executable, "-c", _CLIENT, str(size), "stream" if mode == "stream" else "bytes"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            before, peak, elapsed, ok = done.stdout.split()
            rows.append((mode, size, float(before), float(peak), float(elapsed), ok))
    finally:
        proc.terminate()
        proc.wait()
    print(f"{'S3 store (moto, own process)':<30} {'MB':>6} {'RSS before':>11} {'peak RSS':>9} {'seconds':>8}  intact")
    for mode, size, before, peak, elapsed, ok in rows:
        print(f"{mode:<30} {size:>6} {before:>9.0f}MB {peak:>7.0f}MB {elapsed:>8.1f}  {ok}")
    stream_peak = rows[0][3]
    verdict = "meets" if stream_peak < 150 else "MISSES"
    print(f"streaming {rows[0][1]} MB: peak {stream_peak:.0f} MB ({verdict} the < 150 MB goal)")


def _pytest(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def shards(paths: list[str], count: int = 4) -> None:
    whole = _pytest(paths)
    times = [_pytest([*paths, "--splits", str(count), "--group", str(k)]) for k in range(1, count + 1)]
    longest = max(times)
    print(f"{'tests':<30} {'seconds':>8}")
    print(f"{'whole run':<30} {whole:>8.1f}")
    for k, t in enumerate(times, start=1):
        print(f"{f'shard {k}/{count}':<30} {t:>8.1f}")
    ratio = longest / whole
    verdict = "meets" if ratio <= 0.35 else "MISSES"
    print(f"longest shard / whole = {ratio:.2f}x ({verdict} the <= 0.35x goal); paths: {' '.join(paths) or 'all'}")


def main(argv: list[str]) -> int:
    size_mb = 1024
    if "--size-mb" in argv:
        size_mb = int(argv[argv.index("--size-mb") + 1])
    paths = argv[argv.index("--") + 1 :] if "--" in argv else []
    if "--skip-s3" not in argv:
        s3_memory(size_mb)
    if "--skip-shards" not in argv:
        shards(paths)
    print("all-cached `shipyard ci run` of every job: see bench_ci_cache.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
