"""Supply chain: what SBOM + provenance + signing add to a warm build-and-push, and what the deploy gate costs.

hello-service in a throwaway git workspace, a throwaway local registry already holding the base layers; each run
makes a one-line source change and builds + pushes it twice, alternately with attestations and without (the
build record and the attach step switched off), so both see the same machine load.
Goals: attestations add <= 10 % to a warm build-and-push; the gate's verify before a deploy takes <= 0.5 s, for a
key-signed DSSE envelope and for a Sigstore bundle (signed by an offline ``SigstoreInstance``, verified by
sigstore-python's Verifier against its trust root), measured side by side.

    python benchmarks/bench_supply.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import shipyard.attest  # noqa: E402
from shipyard.deploy import get_environment  # noqa: E402
from shipyard.images import build_image, load_image, push_image  # noqa: E402
from shipyard.testing import LocalRegistry, SigstoreInstance, signing_key_pair  # noqa: E402

IDENTITY = "https://github.com/shipyard-dev/bench/.github/workflows/deploy.yml@refs/heads/main"


def _workspace(target: Path, registry: str, keys: tuple[Path, Path], trusted_root: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "examples" / "hello-service",
        target / "examples" / "hello-service",
        ignore=shutil.ignore_patterns("__pycache__", "tests", "dist", "artifacts"),
    )
    (target / "src" / "shipyard").mkdir(parents=True)
    (target / "src" / "shipyard" / "__init__.py").write_text("")
    # This repository's own trust root stays out: the workspace trusts the benchmark's key instead.
    text = re.sub(r"(?ms)^\[tool\.shipyard\.signing\]\n.*?(?=^\[)", "", (target / "pyproject.toml").read_text())
    text += (
        f'\n[tool.shipyard.signing]\nkey = "{keys[0]}"\npublic-key = "{keys[1]}"\n'
        f'\n[tool.shipyard.environments.bench-gated]\ntarget = "docker"\nregistry = "{registry}"\n'
        'image = "hello-service"\nport = 1\nrequire = ["signed", "clean-tree"]\n'
        f'\n[tool.shipyard.environments.bench-keyless]\ntarget = "docker"\nregistry = "{registry}"\n'
        'image = "hello-service"\nport = 1\nrequire = ["signed", "clean-tree"]\n'
        f'sigstore = {{ identity = "{IDENTITY}", trusted_root = "{trusted_root}" }}\n'
    )
    (target / "pyproject.toml").write_text(text)
    (target / ".gitignore").write_text("dist/\n.shipyard/\n")
    _commit(target, "bench", init=True)
    return target


def _commit(root: Path, message: str, *, init: bool = False) -> None:
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    if init:
        subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)


class _Timer:
    """Wraps a function and adds up the seconds spent in it."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def _fresh_process_check(
    root: Path, reference: str, env: str = "bench-gated", *, whole_sigstore: bool = False
) -> float:
    """The gate in a new interpreter (as `invoke deploy` runs it): its imports included, its start-up not.

    ``whole_sigstore``: import all of sigstore-python, its TUF client included, as before the stand-in
    (``shipyard.attest._sigstore._load_verifier``), to measure the two side by side."""
    # What `invoke deploy` to a docker target loads anyway (the deploy flow, its logging, docker-py) comes first;
    # the gate's own imports (cryptography, stamina) and its registry requests are timed.
    snippet = (
        "import sys, time; import shipyard.deploy, shipyard.images, docker.auth; "
        "from shipyard.deploy import get_environment as g; "
        + ("import shipyard.attest._sigstore as s; s._load_verifier = lambda: None; " if whole_sigstore else "")
        + "env = g(sys.argv[2]); t = time.perf_counter(); shipyard.deploy._flow.check_gate(env, sys.argv[1]); "
        "print(time.perf_counter() - t)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", snippet, reference, env], cwd=root, capture_output=True, text=True, check=True
    )
    return float(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:  # noqa: PLR0915 - a benchmark's steps, in order
    parser = argparse.ArgumentParser(prog="bench_supply")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    import docker

    from shipyard._logging import configure

    configure(level="warning")
    client = docker.from_env(timeout=300)
    created: list[str] = []
    plain: list[float] = []
    attested: list[float] = []
    parts: list[float] = []
    verify: list[float] = []
    verify_keyless: list[float] = []
    records: list[float] = []
    attaches: list[float] = []
    original_record, original_attach = shipyard.attest.record_build, shipyard.attest.attach
    with tempfile.TemporaryDirectory(prefix="bench-supply-") as tmp, LocalRegistry() as registry:
        try:
            keys = signing_key_pair(Path(tmp) / "keys")
            instance = SigstoreInstance(name="bench")
            trusted_root = instance.write_trusted_root(Path(tmp) / "keys" / "trusted_root.json")
            root = _workspace(Path(tmp) / "ws", registry.address, keys, trusted_root)
            config = dataclasses.replace(
                load_image("hello-service", root), repository=f"shipyard-bench/supply-{uuid.uuid4().hex[:8]}"
            )
            app = config.context / "src" / "hello_service" / "app.py"

            def build_and_push(*, attest: bool) -> tuple[float, tuple[float, float], Any]:
                record, attach = _Timer(original_record), _Timer(original_attach)
                shipyard.attest.record_build = record if attest else (lambda *a, **k: None)  # type: ignore[assignment]
                shipyard.attest.attach = attach  # type: ignore[assignment]
                try:
                    started = time.perf_counter()
                    built = build_image(config, build_wheel=True)
                    pushed = push_image(built, registry.address)
                    seconds = time.perf_counter() - started
                finally:
                    shipyard.attest.record_build, shipyard.attest.attach = original_record, original_attach
                created.extend([built.id, *built.tags, *pushed.tags])
                return seconds, (record.seconds, attach.seconds), pushed

            # Untimed: the registry gets the base layers, the caches fill. This image gets the Sigstore bundle.
            keyless_image = build_and_push(attest=True)[2]
            assert keyless_image.built.attestations is not None
            shipyard.attest.attach(
                keyless_image.built.attestations,
                registry=registry.address,
                name=keyless_image.built.image,
                digest=keyless_image.digest,
                auth={},
                keyless=instance.signer(IDENTITY),
            )
            for run in range(args.runs):
                for attest in (run % 2 == 0, run % 2 == 1):
                    app.write_text(app.read_text() + f"# one-line change {run} {attest}\n")
                    _commit(root, f"change {run} {attest}")
                    seconds, spent, pushed = build_and_push(attest=attest)
                    (attested if attest else plain).append(seconds)
                    if attest:
                        parts.append(spent[0] + spent[1])
                        records.append(spent[0])
                        attaches.append(spent[1])
                        reference = pushed.reference
            env = get_environment("bench-gated", root)
            keyless_env = get_environment("bench-keyless", root)
            first_s = _fresh_process_check(root, reference)
            first_keyless, first_whole = [], []
            for _ in range(3):  # alternately, so both see the same load
                first_keyless.append(_fresh_process_check(root, keyless_image.reference, "bench-keyless"))
                first_whole.append(
                    _fresh_process_check(root, keyless_image.reference, "bench-keyless", whole_sigstore=True)
                )
            first_keyless_s, first_whole_s = statistics.median(first_keyless), statistics.median(first_whole)
            for _ in range(max(5, args.runs * 3)):  # alternately, so both see the same load
                started = time.perf_counter()
                facts = shipyard.attest.check(env, reference)
                verify.append(time.perf_counter() - started)
                started = time.perf_counter()
                keyless_facts = shipyard.attest.check(keyless_env, keyless_image.reference)
                verify_keyless.append(time.perf_counter() - started)
            assert facts["verified"], facts
            assert keyless_facts["verified"], keyless_facts
            assert keyless_facts["signer"] == f"sigstore {IDENTITY}", keyless_facts
        finally:
            for tag in reversed(created):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag)
            client.close()

    plain_s, attested_s, parts_s = statistics.median(plain), statistics.median(attested), statistics.median(parts)
    verify_s, keyless_s = statistics.median(verify), statistics.median(verify_keyless)
    rows = [
        ("warm build + push, no attestations (one-line change)", f"{plain_s:.2f} s", ""),
        ("warm build + push with SBOM, provenance, signing", f"{attested_s:.2f} s", f"{attested_s / plain_s:.2f}x"),
        (
            "  of which SBOM + provenance + sign + store (timed inside)",
            f"{parts_s:.3f} s",
            f"{parts_s / plain_s * 100:.1f} % of the plain run (goal <= 10 %)",
        ),
        ("    build record: SBOM (uv export) + provenance", f"{statistics.median(records):.3f} s", ""),
        ("    push: sign + store the artifact in the registry", f"{statistics.median(attaches):.3f} s", ""),
        ("gate: first verify in a fresh deploy process", f"{first_s:.3f} s", "(goal <= 0.5 s)"),
        ("gate: verify before a deploy, median", f"{verify_s:.3f} s", "(goal <= 0.5 s)"),
        (
            "gate, Sigstore bundle: first verify in a fresh deploy process",
            f"{first_keyless_s:.3f} s",
            f"(goal <= 0.5 s; median of 3, {first_keyless_s / first_whole_s:.2f}x importing all of sigstore)",
        ),
        (
            "  the same, importing all of sigstore-python (its TUF client too)",
            f"{first_whole_s:.3f} s",
            "",
        ),
        (
            "gate, Sigstore bundle: verify before a deploy, median",
            f"{keyless_s:.3f} s",
            f"{keyless_s / verify_s:.2f}x the key-signed verify (goal <= 0.5 s)",
        ),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"medians of {args.runs} runs per variant (this machine is shared: end-to-end times are noisy)")
    print(f"  all plain runs:    {', '.join(f'{x:.2f}' for x in plain)} s")
    print(f"  all attested runs: {', '.join(f'{x:.2f}' for x in attested)} s")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>9}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
