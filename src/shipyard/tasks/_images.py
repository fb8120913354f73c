"""Tasks ``image.build`` and ``image.push``: build images from artifacts, push them and print their digests.

The build log goes to stderr (a rich live view on a terminal, plain lines in CI or when piped); results go to
stdout, as JSON with ``--json``. docker-py is imported only inside the task bodies.
"""

from __future__ import annotations

import json as jsonlib
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection

from shipyard.tasks._base import shipyard_task

if TYPE_CHECKING:
    from shipyard.images import BuildEvent, BuiltImage, ImageConfig

__all__ = ["build", "collection", "push", "verify"]

DEFAULT_REGISTRY = "127.0.0.1:5000"
_LIVE_LINES = 10

_HELP = {
    "name": "the image to build (a [tool.shipyard.images.<name>] table); repeat it; default: all of them",
    "json": "print {image, tags, id, digest} per image as JSON",
    "build_wheel": "build the package's wheel into dist/ first (default: use the one the `build` session made)",
    "no_cache": "build every step again, ignoring the layer cache",
}


def _configs(names: list[str]) -> list[ImageConfig]:
    from shipyard._errors import ConfigError
    from shipyard.images import load_image, load_images

    if names:
        return [load_image(name) for name in names]
    images = list(load_images().values())
    if not images:
        raise ConfigError("no images are configured; add a [tool.shipyard.images.<name>] table", file="pyproject.toml")
    return images


@contextmanager
def _build_view(name: str) -> Iterator[Callable[[BuildEvent], None]]:
    """A rich live view of the current step and the last lines on a terminal; plain lines otherwise."""
    from shipyard import _output
    from shipyard._logging import output_mode
    from shipyard._secrets import redact

    if output_mode(sys.stderr) != "live":
        from shipyard._workflow_commands import safe

        def plain(event: BuildEvent) -> None:
            # Build output is untrusted: under GitHub Actions no line of it may act as a workflow command.
            if event.kind == "step":
                print(safe(f"[{name}] Step {event.step}/{event.total}: {redact(event.text)}"), file=sys.stderr)  # noqa: T201
            elif event.kind == "cached":
                print(f"[{name}]   (cached)", file=sys.stderr)  # noqa: T201
            else:
                print(safe(f"[{name}]   {redact(event.text)}"), file=sys.stderr)  # noqa: T201

        yield plain
        return

    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    console = Console(stderr=True)
    lines: deque[str] = deque(maxlen=_LIVE_LINES)
    state = {"title": f"{name}: starting"}

    def render() -> Group:
        return Group(Text(state["title"], style="bold"), *(Text(f"  {line}", style="dim") for line in lines))

    with Live(render(), console=console, refresh_per_second=8, transient=True) as live, _output.attached(console):

        def rich_view(event: BuildEvent) -> None:
            if event.kind == "step":
                state["title"] = f"{name}: step {event.step}/{event.total} {redact(event.text)[:100]}"
                console.print(f"[dim]{name}[/] step {event.step}/{event.total} {redact(event.text)[:100]}", markup=True)
                lines.clear()
            elif event.kind == "cached":
                console.print("  [green]cached[/]", markup=True)
            else:
                lines.append(redact(event.text)[:160])
            live.update(render())

        yield rich_view


def _report(rows: list[dict[str, Any]], *, as_json: bool, text: Callable[[dict[str, Any]], str]) -> None:
    from shipyard._secrets import redact, redact_fields

    if as_json:
        # Field by field before serialization; image references, ids and digests are kept whole.
        print(jsonlib.dumps(redact_fields(rows if len(rows) > 1 else rows[0]), indent=2))  # noqa: T201
        return
    for row in rows:
        print(redact(text(row)))  # noqa: T201


def _built_text(row: dict[str, Any]) -> str:
    return f"built {row['image']} {row['id'][:19]} tags: {', '.join(row['tags'])}"


@shipyard_task(iterable=["name"], help=_HELP)
def build(
    c: Any, name: list[str] | None = None, json: bool = False, build_wheel: bool = False, no_cache: bool = False
) -> None:
    """Build images from the `build` session's wheel and the locked requirements (classic builder, no network)."""
    from shipyard._logging import configure
    from shipyard.images import build_image

    configure(level="warning")
    results: list[BuiltImage] = []
    for config in _configs(name or []):
        with _build_view(config.name) as on_event:
            results.append(build_image(config, build_wheel=build_wheel, nocache=no_cache, on_event=on_event))
    _report([image.as_json() for image in results], as_json=json, text=_built_text)


@shipyard_task(
    iterable=["name"],
    help={
        "name": _HELP["name"],
        "json": _HELP["json"],
        "registry": f"host[:port] to push to (default: $SHIPYARD_REGISTRY or {DEFAULT_REGISTRY})",
        "attempts": "most attempts per push on transient faults (connection, timeout, 5xx, 429)",
        "timeout": "most seconds to keep retrying one push",
    },
)
def push(  # noqa: PLR0917 - invoke maps positional parameters to options
    c: Any,
    name: list[str] | None = None,
    registry: str = "",
    json: bool = False,
    attempts: str = "5",
    timeout: str = "120",
) -> None:
    """Push the images built for this commit (concurrently) and print their digest references."""
    from shipyard._logging import configure
    from shipyard.images import RetryPolicy, local_image, push_images
    from shipyard.tasks._options import positive_float, positive_int, registry_option

    configure(level="warning")
    policy = RetryPolicy(attempts=positive_int(attempts, "--attempts"), timeout=positive_float(timeout, "--timeout"))
    target = registry_option(registry or os.environ.get("SHIPYARD_REGISTRY", "") or DEFAULT_REGISTRY, bool(registry))
    built = [local_image(config) for config in _configs(name or [])]
    pushed = push_images(built, target, policy=policy)
    _report(
        [{**image.as_json(), **_attestation(image)} for image in pushed],
        as_json=json,
        text=lambda row: f"pushed {row['reference']}" + _attested_text(row),
    )


def _attestation(image: Any) -> dict[str, Any]:
    found = image.attested
    if found is None:
        return {}
    return {
        "attestation": {
            "digest": found.digest,
            "storage": found.storage,
            "signed": found.signed,
            "method": found.method,
        }
    }


def _attested_text(row: dict[str, Any]) -> str:
    found = row.get("attestation")
    if not found:
        return ""
    unsigned = (
        "UNSIGNED (keyless signing needs CI's OIDC token)"
        if found.get("method") == "sigstore"
        else "UNSIGNED (no signing key: set $SHIPYARD_SIGNING_KEY)"
    )
    state = ("signed with Sigstore" if found.get("method") == "sigstore" else "signed") if found["signed"] else unsigned
    return f"\n  SBOM + provenance {state}, stored as {found['storage']}"


@shipyard_task(
    iterable=["key"],
    help={
        "ref": "the image: registry/repository@sha256:... (or :tag, resolved through the registry)",
        "key": "a PEM public key to trust; repeat it (default: [tool.shipyard.signing] public-key)",
        "json": "print the verification as JSON",
        "env": "trust what this deploy environment's gate trusts (its keys and its sigstore identity)",
        "identity": "accept Sigstore bundles signed as this certificate identity (a workflow URL @ a ref)",
        "issuer": "the identity's OIDC issuer (default: GitHub Actions')",
        "trusted_root": "a Sigstore trusted_root.json (default: the public-good root sigstore-python embeds)",
    },
)
def verify(  # noqa: PLR0917 - invoke maps positional parameters to options
    c: Any,
    ref: str,
    key: list[str] | None = None,
    json: bool = False,
    env: str = "",
    identity: str = "",
    issuer: str = "",
    trusted_root: str = "",
) -> None:
    """Fetch an image's SBOM and signed provenance from its registry, verify them and print what they say."""
    from pathlib import Path

    from shipyard._errors import ImageError
    from shipyard._logging import configure
    from shipyard._pyproject import find_root
    from shipyard.attest import trusted_keys, verify_image
    from shipyard.attest._oci import resolve
    from shipyard.images import default_credentials

    configure(level="error")  # the verdict is the output; retries of a faulty registry end in its one line
    host = ref.partition("/")[0]
    auth = default_credentials(host).auth_config(host)
    reference = resolve(ref, auth)
    keys = [(path, Path(path).read_bytes()) for path in key or [] if Path(path).is_file()]
    if len(keys) != len(key or []):
        missing = next(path for path in key or [] if not Path(path).is_file())
        raise ImageError(f"--key {missing}: no such file; pass a PEM public key")
    sigstore = _sigstore_policy(env, identity, issuer, trusted_root)
    verification = verify_image(reference, trusted=keys or trusted_keys(find_root()), auth=auth, sigstore=sigstore)
    summary = verification.summary()
    refused = None
    if env and verification.verified:  # would that environment's gate deploy it? (its `require` rules)
        from shipyard.attest import evaluate
        from shipyard.deploy import get_environment

        rules = get_environment(env).require
        refused = evaluate(rules, verification)
        summary["rules"] = list(rules)
        summary["refused_by"] = refused[0] if refused else None
        summary["would_deploy"] = (
            f"{env!r} would deploy it ({', '.join(rules)})" if rules else f"{env!r} has no require rules"
        )
    _report([summary], as_json=json, text=lambda row: _verified_text(row, verification.sbom))
    if not verification.verified:
        raise ImageError(f"{reference}: not verified: {verification.problem}")
    if refused is not None:
        raise ImageError(f'{reference}: verified, but {env!r} would refuse it by rule "{refused[0]}": {refused[1]}')


def _sigstore_policy(env: str, identity: str, issuer: str, trusted_root: str) -> Any:
    """The Sigstore identity to trust: ``--identity`` (checked as the config is), else ``--env``'s, else none."""
    from pathlib import Path

    from shipyard.attest._policy import GITHUB_ISSUER, parse_sigstore

    if identity:
        table = {"identity": identity, "issuer": issuer or GITHUB_ISSUER}
        if trusted_root:
            table["trusted_root"] = str(Path(trusted_root).resolve())
        return parse_sigstore(table, root=Path.cwd(), file="image.verify", key="--identity")
    if issuer or trusted_root:
        from shipyard._errors import ConfigError

        raise ConfigError("--issuer and --trusted-root need --identity (whom to trust)", file="image.verify")
    if env:
        from shipyard.deploy import get_environment

        return get_environment(env).sigstore
    return None


def _verified_text(row: dict[str, Any], sbom: dict[str, Any]) -> str:
    lines = [f"{'verified' if row['verified'] else 'NOT verified'} {row['reference']}"]
    if row.get("problem"):
        lines.append(f"  problem     {row['problem']}")
    shown = {
        "signed by": row.get("signer") or (f"key {row['keyid'][:16]}" if row.get("keyid") else ""),
        "stored": f"{row['storage']} ({row['attestation'][:19]})" if row.get("attestation") else "",
        "commit": f"{row['commit']}{' (uncommitted changes)' if row.get('dirty') else ' (clean tree)'}"
        + (f" on {row['branch']}" if row.get("branch") else "")
        + (f" at tag {row['ref'].removeprefix('refs/tags/')}" if str(row.get("ref")).startswith("refs/tags/") else "")
        if row.get("commit")
        else ("none recorded (not built in a git work tree)" if row.get("builder") else ""),
        "builder": f"{row.get('builder', '')} ({row.get('invocation', '')})" if row.get("builder") else "",
        "built at": row.get("built_at", ""),
        "package": row.get("package", ""),
        "base image": ", ".join(row.get("base_images") or []),
        "uv.lock": f"sha256:{row['uv_lock']}" if row.get("uv_lock") else "",
        "Dockerfile": f"sha256:{row['dockerfile']}" if row.get("dockerfile") else "",
        "rules": row.get("would_deploy", "") if not row.get("refused_by") else "",
    }
    lines += [f"  {name:<11} {value}" for name, value in shown.items() if value]
    components = [c for c in sbom.get("components", []) if c.get("type") == "library"]
    if components:
        listed = ", ".join(f"{c.get('name')} {c.get('version')}" for c in components)
        lines.append(f"  SBOM        {len(components)} packages: {listed}")
    return "\n".join(lines)


def collection() -> Collection:
    """The ``image`` collection: ``image.build``, ``image.push`` and ``image.verify``."""
    return Collection("image", build, push, verify)
