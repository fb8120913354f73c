"""Sigstore (keyless) provenance on real images in a real registry, verified offline by sigstore-python's Verifier.

Fulcio, Rekor and GitHub's OIDC cannot be reached from here, so the signing service is an offline
``shipyard.testing.SigstoreInstance`` made in the test (its own CA, CT log and Rekor keys, and the
``trusted_root.json`` naming them). Everything else is real: the image is built and pushed to a real registry, our
``attach`` stores the bundle over our own statement, and ``image.verify`` / the deploy gate fetch it and run
sigstore's real ``Verifier`` against the trust root and the configured identity. Nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard._command import run
from shipyard._errors import ConfigError, DeployError, ImageError
from shipyard.attest import attach, check, verify_image
from shipyard.attest._oci import Registry, tag_for
from shipyard.attest._policy import SigstorePolicy
from shipyard.deploy import deploy, get_environment, load_environments
from shipyard.images import PushedImage, build_image, load_image, push_image
from shipyard.testing import LocalRegistry, SigstoreInstance

from ._recording import RecordingTarget, refusal

pytestmark = [pytest.mark.docker, pytest.mark.registry]

IDENTITY = "https://github.com/acme/tiny/.github/workflows/deploy.yml@refs/heads/main"
OTHER_IDENTITY = "https://github.com/mallory/tiny/.github/workflows/deploy.yml@refs/heads/main"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INVOKE = str(Path(sys.executable).with_name("invoke"))
AMBIENT = (
    "SHIPYARD_SIGNING_KEY",
    "GITHUB_ACTIONS",
    "GITHUB_REF",
    "GITHUB_RUN_ID",
    "GITHUB_REPOSITORY",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "SIGSTORE_ID_TOKEN",
)


@pytest.fixture(autouse=True)
def _no_ambient_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def instance() -> SigstoreInstance:
    return SigstoreInstance(name="shipyard-test")


@pytest.fixture(scope="module")
def impostor() -> SigstoreInstance:
    """Another Sigstore instance: same identities, another CA and other logs."""
    return SigstoreInstance(name="impostor")


@pytest.fixture
def project(tmp_path: Path, scratch_base: str, registry: LocalRegistry, instance: SigstoreInstance) -> Path:
    """An app that knows nothing of Shipyard but its pyproject tables: keyless signing, gated environments."""
    root = tmp_path / "tiny"
    root.mkdir()
    repository = f"shipyard-test/sigstore-{uuid.uuid4().hex[:10]}"
    instance.write_trusted_root(root / "ci" / "trusted_root.json")
    policy = f'sigstore = {{ identity = "{IDENTITY}", trusted_root = "ci/trusted_root.json" }}'
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "tiny-app"
            version = "0.1.0"
            requires-python = ">=3.11"
            dependencies = []

            [tool.shipyard.images.tiny]
            context = "image"
            package = "tiny-app"
            repository = "{repository}"
            build-args = {{ BASE_IMAGE = "{scratch_base}" }}

            [tool.shipyard.signing]
            method = "sigstore"

            [tool.shipyard.environments.gated]
            target = "docker"
            registry = "{registry.address}"
            image = "tiny"
            port = 1
            require = ["signed", "clean-tree", "branch:main"]
            {policy}

            [tool.shipyard.environments.ci-only]
            target = "docker"
            registry = "{registry.address}"
            image = "tiny"
            port = 1
            require = ["builder:github-actions"]
            {policy}

            [tool.shipyard.environments.open]
            target = "docker"
            registry = "{registry.address}"
            image = "tiny"
            port = 1
            """
        )
    )
    (root / "image").mkdir()
    (root / "image" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY artifacts/app/ /app/\n")
    (root / "dist").mkdir()
    (root / "dist" / "tiny_app-0.1.0-py3-none-any.whl").write_bytes(uuid.uuid4().bytes)  # copied, never installed
    (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
    (root / ".gitignore").write_text("dist/\n.shipyard/\n")
    run(["uv", "lock", "--quiet"], cwd=root)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    run([*git, "init", "--quiet", "-b", "main"], cwd=root)
    run([*git, "add", "-A"], cwd=root)
    run([*git, "commit", "--quiet", "-m", "init"], cwd=root)
    return root


def _push(root: Path, registry: LocalRegistry, janitor: Any) -> PushedImage:
    """Build and push: keyless signing without an ambient OIDC token (a developer's push) stores it unsigned."""
    built = build_image(load_image("tiny", root))
    janitor.tags += [built.id, *built.tags]
    pushed = push_image(built, registry.address)
    janitor.tags += list(pushed.tags)
    return pushed


def _sign(pushed: PushedImage, registry: LocalRegistry, signer: Callable[[bytes], bytes | None]) -> Any:
    """What the push does in CI, with the offline instance standing in for Fulcio and Rekor."""
    assert pushed.built.attestations is not None
    return attach(
        pushed.built.attestations,
        registry=registry.address,
        name=pushed.built.image,
        digest=pushed.digest,
        auth={},
        keyless=signer,
    )


def _stored_bundle(registry: LocalRegistry, pushed: PushedImage) -> tuple[Registry, dict[str, Any], dict[str, Any]]:
    repo = Registry(registry.address, pushed.built.image)
    manifest, _ = repo.manifest(tag_for(pushed.digest)) or ({}, "")
    layer = next(layer for layer in manifest["layers"] if layer["mediaType"] == BUNDLE)
    return repo, manifest, layer


def _replace_bundle(registry: LocalRegistry, pushed: PushedImage, data: bytes, media_type: str = BUNDLE) -> None:
    """An attacker with push access to the registry (not to the signing identity) swaps the bundle layer."""
    repo, manifest, layer = _stored_bundle(registry, pushed)
    layer.update(repo.push_blob(data))
    layer["mediaType"] = media_type
    repo.put_manifest(manifest, tag_for(pushed.digest))


# ---------------------------------------------------------------- accepted


def test_a_sigstore_signed_image_verifies_offline_and_deploys_with_what_was_verified(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    assert pushed.attested is not None
    assert pushed.attested.signed is False  # no OIDC token on a developer's machine: stored unsigned
    attached = _sign(pushed, registry, instance.signer(IDENTITY))
    assert attached.signed is True
    assert attached.storage == f"tag:{tag_for(pushed.digest)}"  # distribution 2.8: no referrers API

    # The stored layer is a Sigstore bundle v0.3 whose DSSE payload is our own in-toto statement for this digest.
    repo, _, layer = _stored_bundle(registry, pushed)
    bundle = json.loads(repo.blob(layer["digest"]))
    assert bundle["mediaType"] == BUNDLE
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["subject"][0]["digest"] == {"sha256": pushed.digest.removeprefix("sha256:")}
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"

    target = RecordingTarget()
    result = deploy(get_environment("gated", project), pushed.reference, target=target)  # type: ignore[arg-type]

    assert result.ok
    assert f"ship {pushed.reference}" in target.calls
    (record,) = target.recorded()
    assert record.verified["verified"] is True
    assert record.verified["signer"] == f"sigstore {IDENTITY}"
    assert record.verified["commit"] == run(["git", "rev-parse", "HEAD"], cwd=project).output.strip()
    assert record.verified["rules"] == ["signed", "clean-tree", "branch:main"]


def test_the_rules_read_a_sigstore_signed_statement_as_they_read_a_key_signed_one(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    message = refusal(project, "ci-only", pushed.reference)
    assert 'refused by rule "builder:github-actions": built by https://github.com/shipyard-dev/shipyard' in message


def test_invoke_image_verify_checks_a_bundle_against_the_identity_and_trust_root(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    env = {k: v for k, v in os.environ.items() if k not in AMBIENT}

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [INVOKE, "image.verify", pushed.reference, *args]
        return subprocess.run(argv, cwd=project, capture_output=True, text=True, env=env, timeout=120, check=False)

    by_env = verify("--env", "gated")
    assert by_env.returncode == 0, by_env.stderr
    assert f"verified {pushed.reference}" in by_env.stdout
    assert f"signed by   sigstore {IDENTITY}" in by_env.stdout

    by_flags = verify("--identity", IDENTITY, "--trusted-root", "ci/trusted_root.json", "--json")
    assert by_flags.returncode == 0, by_flags.stderr
    assert json.loads(by_flags.stdout)["signer"] == f"sigstore {IDENTITY}"

    wrong = verify("--identity", OTHER_IDENTITY, "--trusted-root", "ci/trusted_root.json")
    assert wrong.returncode == 1
    assert "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().count("\n") == 0
    assert f"the Sigstore certificate is for {IDENTITY}, not {OTHER_IDENTITY}" in wrong.stderr

    untrusted = verify()  # no identity given, none configured for image.verify: a bundle alone proves nothing
    assert untrusted.returncode == 1
    assert "no signer identity is trusted" in untrusted.stderr

    slash = verify("--identity", IDENTITY + "/")
    assert slash.returncode == 2
    assert "ends with '/'" in slash.stderr
    assert slash.stderr.strip().count("\n") == 0


# ---------------------------------------------------------------- refused, each with its own reason


def test_gate_refuses_a_bundle_from_another_identity(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(OTHER_IDENTITY))
    message = refusal(project, "gated", pushed.reference)
    assert f'refused by rule "signed": signature: the Sigstore certificate is for {OTHER_IDENTITY}' in message
    assert f"not {IDENTITY}" in message


def test_gate_refuses_a_bundle_from_another_issuer(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY, issuer="https://gitlab.example.com"))
    message = refusal(project, "gated", pushed.reference)
    assert (
        "signature: the Sigstore certificate was issued for another OIDC issuer (https://gitlab.example.com), not"
        in message
    )


def test_gate_refuses_a_bundle_signed_under_another_trust_root(
    project: Path, registry: LocalRegistry, janitor: Any, impostor: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, impostor.signer(IDENTITY))  # right identity, wrong CA and logs
    message = refusal(project, "gated", pushed.reference)
    assert 'refused by rule "signed": signature: the Sigstore certificate does not chain to the trusted root' in message


def test_gate_refuses_a_tampered_statement(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    repo, _, layer = _stored_bundle(registry, pushed)
    bundle = json.loads(repo.blob(layer["digest"]))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    for dep in statement["predicate"]["buildDefinition"]["resolvedDependencies"]:
        if "gitCommit" in dep["digest"]:
            dep["annotations"]["branch"] = "release"  # what an attacker would change: a fact a rule reads
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    _replace_bundle(registry, pushed, json.dumps(bundle).encode())

    message = refusal(project, "gated", pushed.reference)

    assert 'refused by rule "signed": signature: the Sigstore DSSE signature does not verify' in message


def test_gate_refuses_a_bundle_for_another_digest(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    genuine = _push(project, registry, janitor)
    genuine_bundle: list[bytes] = []

    def keep(payload: bytes) -> bytes:
        genuine_bundle.append(instance.sign_dsse(payload, identity=IDENTITY))
        return genuine_bundle[-1]

    _sign(genuine, registry, keep)
    (project / "image" / "Dockerfile").write_text((project / "image" / "Dockerfile").read_text() + "LABEL other=yes\n")
    run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "other"], cwd=project)
    victim = _push(project, registry, janitor)
    assert victim.digest != genuine.digest
    # A genuinely signed bundle (right identity, right root) for the first image, attached to the second.
    _sign(victim, registry, lambda payload: genuine_bundle[0])

    message = refusal(project, "gated", victim.reference)

    assert f'refused by rule "signed": the signed provenance is for sha256:{genuine.digest[7:19]}' in message
    assert f"not {victim.digest[:19]}" in message


def test_gate_refuses_an_unsigned_image(project: Path, registry: LocalRegistry, janitor: Any) -> None:
    pushed = _push(project, registry, janitor)  # keyless configured, no OIDC token: the bare statement
    message = refusal(project, "gated", pushed.reference)
    assert 'refused by rule "signed": the provenance is not signed' in message


def test_an_environment_without_the_gate_deploys_anything(
    project: Path, registry: LocalRegistry, janitor: Any, impostor: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, impostor.signer(OTHER_IDENTITY))
    target = RecordingTarget()
    result = deploy(get_environment("open", project), pushed.reference, target=target)  # type: ignore[arg-type]
    assert result.ok
    assert f"ship {pushed.reference}" in target.calls
    assert target.recorded()[0].verified == {}


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda data: data[: len(data) // 2], "the Sigstore bundle is malformed"),
        (
            lambda data: b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
            "the Sigstore bundle is malformed",
        ),
        (lambda data: b"[" * 100_000 + b"]" * 100_000, "the Sigstore bundle is malformed"),
        (lambda data: json.dumps(json.loads(data) | {"mediaType": "application/x-other"}).encode(), "malformed"),
        (lambda data: data + b" " * (50 * 1024 * 1024), "a layer of the attestation is too large"),
    ],
    ids=["truncated", "no-content", "deeply-nested", "other-bundle-type", "50-MB"],
)
def test_broken_bundles_are_each_refused_in_one_line(  # noqa: PLR0917 - fixtures and parameters
    project: Path,
    registry: LocalRegistry,
    janitor: Any,
    instance: SigstoreInstance,
    mangle: Callable[[bytes], bytes],
    reason: str,
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    repo, _, layer = _stored_bundle(registry, pushed)
    _replace_bundle(registry, pushed, mangle(repo.blob(layer["digest"])))
    message = refusal(project, "gated", pushed.reference)
    assert f'refused by rule "signed": {"signature: " if "large" not in reason else ""}' in message
    assert reason in message


def test_a_bundle_under_another_media_type_is_not_read_as_one(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    repo, _, layer = _stored_bundle(registry, pushed)
    _replace_bundle(registry, pushed, repo.blob(layer["digest"]), media_type="application/vnd.dev.sigstore.bundle+json")
    message = refusal(project, "gated", pushed.reference)
    assert 'refused by rule "signed": the attestation holds no provenance' in message


def test_verify_image_without_a_sigstore_policy_refuses_a_bundle(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    verification = verify_image(pushed.reference, trusted=[])
    assert not verification.verified
    assert verification.problem is not None
    assert "no signer identity is trusted" in verification.problem
    trusting = SigstorePolicy(identity=IDENTITY, trusted_root=project / "ci" / "trusted_root.json")
    assert verify_image(pushed.reference, trusted=[], sigstore=trusting).verified
    facts = check(get_environment("gated", project), pushed.reference)
    assert facts["verified"] is True


# ---------------------------------------------------------------- configuration mistakes, at config time


def _config_error(root: Path, policy: str) -> str:
    text = (root / "pyproject.toml").read_text()
    start = text.index("sigstore = {", text.index("[tool.shipyard.environments.gated]"))
    end = text.index("\n", start)
    (root / "pyproject.toml").write_text(text[:start] + policy + text[end:])
    with pytest.raises(ConfigError) as caught:
        load_environments(root)
    message = str(caught.value)
    assert "\n" not in message
    assert str(root / "pyproject.toml") in message
    return message


@pytest.mark.parametrize(
    ("policy", "key", "reason"),
    [
        (  # the gate requires branch:main; a certificate for a tag run can never be for main
            'sigstore = { identity = "https://github.com/acme/tiny/.github/workflows/deploy.yml@refs/tags/v*" }',
            "require",
            "rule 'branch:main' and sigstore.identity",
        ),
        (
            'sigstore = { identity = "https://github.com/acme/tiny/.github/workflows/deploy.yml@refs/heads/release" }',
            "require",
            "rule 'branch:main' and sigstore.identity",
        ),
        (f'sigstore = {{ identity = "{IDENTITY}/" }}', "sigstore.identity", "ends with '/'"),
        (f'sigstore = {{ identity = " {IDENTITY}" }}', "sigstore.identity", "without surrounding spaces"),
        ('sigstore = { identity = "https://github.com/acme/tiny" }', "sigstore.identity", "not a GitHub Actions"),
        (
            f'sigstore = {{ identity = "{IDENTITY}", issuer = "https://token.actions.githubusercontent.com/" }}',
            "sigstore.issuer",
            "ends with '/'",
        ),
        (
            f'sigstore = {{ identity = "{IDENTITY}", trusted_root = "ci/missing.json" }}',
            "sigstore.trusted_root",
            "cannot read",
        ),
        (
            f'sigstore = {{ identity = "{IDENTITY}", trusted_root = "pyproject.toml" }}',
            "sigstore.trusted_root",
            "is not JSON",
        ),
        (
            f'sigstore = {{ identity = "{IDENTITY}", trusted_root = "ci/bad-root.json" }}',
            "sigstore.trusted_root",
            "is not a Sigstore trusted root",
        ),
        (f'sigstore = {{ identity = "{IDENTITY}", subject = "x" }}', "sigstore.subject", "unknown key"),
        ('sigstore = { issuer = "https://token.actions.githubusercontent.com" }', "sigstore.identity", "missing"),
        ("sigstore = {}", "sigstore.identity", "missing"),
        (f'sigstore = {{ identity = "{IDENTITY[:40]}*" }}', "sigstore.identity", "may only end"),
        (
            'sigstore = { identity = "https://github.com/acme/tiny/.github/workflows/deploy.yml@refs/*" }',
            "sigstore.identity",
            "may only end",
        ),
        (
            'sigstore = { identity = "https://github.com/acme/tiny/.github/workflows/*.yml@refs/tags/v*" }',
            "sigstore.identity",
            "may only end",
        ),
        (
            'sigstore = { identity = "ci@example.com*", issuer = "https://accounts.example.com" }',
            "sigstore.identity",
            "may only end",
        ),
    ],
    ids=[
        "branch-rule-tag-identity",
        "other-branch",
        "trailing-slash",
        "spaces",
        "not-a-workflow",
        "issuer-slash",
        "missing-root",
        "not-json",
        "other-json",
        "unknown-key",
        "no-identity",
        "empty",
        "star-mid-identity",
        "star-any-ref",
        "two-stars",
        "star-other-issuer",
    ],
)
def test_sigstore_policy_mistakes_are_one_config_error_naming_the_key(
    project: Path, policy: str, key: str, reason: str
) -> None:
    (project / "ci" / "bad-root.json").write_text('{"mediaType": "application/vnd.in-toto+json"}')
    message = _config_error(project, policy)
    assert f"tool.shipyard.environments.gated.{key}" in message
    assert reason in message


def test_a_corrupt_trust_root_that_passes_the_config_check_is_one_line_at_verify(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    root_file = project / "ci" / "trusted_root.json"
    data = json.loads(root_file.read_text())
    data["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"] = "bm90IGEgY2VydA=="
    root_file.write_text(json.dumps(data))
    message = refusal(project, "gated", pushed.reference)
    assert 'refused by rule "signed": cannot verify:' in message
    assert "is not a Sigstore trusted root" in message


def test_the_embedded_public_good_root_is_the_default_and_refuses_a_test_instance_bundle(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    verification = verify_image(pushed.reference, trusted=[], sigstore=SigstorePolicy(identity=IDENTITY))
    assert not verification.verified
    assert verification.problem is not None
    assert "does not chain to the trusted root the public-good Sigstore root" in verification.problem


# ---------------------------------------------------------------- signing without an identity


def test_a_ci_push_without_an_oidc_token_fails_in_one_line(
    project: Path, registry: LocalRegistry, janitor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # a workflow job without `permissions: id-token: write`
    built = build_image(load_image("tiny", project))
    janitor.tags += [built.id, *built.tags]
    with pytest.raises(ImageError) as caught:
        push_image(built, registry.address)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Sigstore signing: ")
    assert "OIDC token" in message


def test_invoke_image_push_says_a_keyless_push_outside_ci_is_unsigned(
    project: Path, registry: LocalRegistry, janitor: Any
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in AMBIENT}

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [INVOKE, *args]
        return subprocess.run(argv, cwd=project, capture_output=True, text=True, env=env, timeout=300, check=False)

    built = invoke("image.build", "--json")
    assert built.returncode == 0, built.stderr
    janitor.tags += json.loads(built.stdout)["tags"]
    proc = invoke("image.push", "--registry", registry.address, "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    janitor.tags += row["tags"]
    assert row["attestation"] == row["attestation"] | {"signed": False, "method": "sigstore"}
    text = invoke("image.push", "--registry", registry.address)
    assert text.returncode == 0, text.stderr
    assert "UNSIGNED (keyless signing needs CI's OIDC token)" in text.stdout


# ---------------------------------------------------------------- the signing path, against local Sigstore services


def test_a_ci_push_signs_keylessly_through_fulcio_and_rekor_and_the_gate_accepts_it(  # noqa: PLR0917 - fixtures
    project: Path,
    registry: LocalRegistry,
    janitor: Any,
    instance: SigstoreInstance,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The real push path (sigstore-python's ambient OIDC detection, SigningContext, Signer.sign_dsse) against this
    instance's Fulcio, Rekor and GitHub OIDC endpoints on 127.0.0.1, named by a ClientTrustConfig file."""
    workflow = IDENTITY.removeprefix("https://github.com/")
    with instance.serve(workflow) as services:
        (project / "ci" / "sigstore-client.json").write_text(services.client_trust_config_json)
        text = (project / "pyproject.toml").read_text()
        text = text.replace('method = "sigstore"\n', 'method = "sigstore"\ntrust-config = "ci/sigstore-client.json"\n')
        (project / "pyproject.toml").write_text(text)
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        run([*git, "add", "-A"], cwd=project)
        run([*git, "commit", "-qm", "private Sigstore instance"], cwd=project)
        for name, value in {
            **services.oidc_env,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REPOSITORY": "acme/tiny",
            "GITHUB_RUN_ID": "4242",
        }.items():
            monkeypatch.setenv(name, value)

        pushed = _push(project, registry, janitor)

    assert pushed.attested is not None
    assert pushed.attested.signed is True
    assert pushed.attested.method == "sigstore"
    repo, manifest, layer = _stored_bundle(registry, pushed)
    bundle = json.loads(repo.blob(layer["digest"]))
    # The job's OIDC token is a secret: in no output, in no stored layer, in no build record.
    (token,) = services.issued
    printed = capfd.readouterr()
    stored = [repo.blob(item["digest"]) for item in manifest["layers"]]
    stored += [path.read_bytes() for path in (project / ".shipyard").rglob("*") if path.is_file()]
    assert token not in printed.out + printed.err
    assert not [data for data in stored if token.encode() in data or token.split(".")[1].encode() in data]
    assert bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}

    # Offline from here on: the services are gone; the bundle and the trust root are all the gate reads.
    for env in ("gated", "ci-only"):
        facts = check(get_environment(env, project), pushed.reference)
        assert facts["verified"] is True
        assert facts["signer"] == f"sigstore {IDENTITY}"
    assert facts["builder_kind"] == "github-actions"
    assert facts["invocation"] == "https://github.com/acme/tiny/actions/runs/4242/attempts/1"


def test_a_trust_config_is_for_keyless_signing_and_must_exist(project: Path) -> None:
    from shipyard.attest import load_signing

    pyproject = project / "pyproject.toml"
    original = pyproject.read_text()
    for table, reason in (
        ('method = "sigstore"\ntrust-config = "ci/nope.json"\n', "does not exist; fix the path"),
        ('method = "key"\ntrust-config = "ci/trusted_root.json"\n', 'is for method = "sigstore" only'),
        ('method = "cosign"\n', "is not a signing method"),
    ):
        pyproject.write_text(original.replace('method = "sigstore"\n', table))
        with pytest.raises(ConfigError) as caught:
            load_signing(project)
        assert reason in str(caught.value)
        assert "tool.shipyard.signing." in str(caught.value)


def test_an_identity_ending_in_a_star_accepts_that_workflow_at_any_matching_tag_only(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    """A tag deploy's certificate names the tag (``deploy.yml@refs/tags/v1.4.2``): production trusts ``v*``."""
    pyproject = project / "pyproject.toml"
    tagged = "https://github.com/acme/tiny/.github/workflows/deploy.yml@refs/tags/"
    text = pyproject.read_text().replace(f'identity = "{IDENTITY}"', f'identity = "{tagged}v*"', 1)
    pyproject.write_text(text.replace('"clean-tree", "branch:main"]', '"clean-tree"]', 1))
    run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "tags"], cwd=project)
    pushed = _push(project, registry, janitor)
    env = get_environment("gated", project)
    for signer, reason in (
        (f"{tagged}v1.4.2", None),
        (f"{tagged}release-1", f"the Sigstore certificate is for {tagged}release-1, not {tagged}v*"),
        (IDENTITY, f"the Sigstore certificate is for {IDENTITY}, not {tagged}v*"),
        ("https://github.com/acme/tiny/.github/workflows/other.yml@refs/tags/v1", "not " + tagged + "v*"),
    ):
        _sign(pushed, registry, instance.signer(signer))
        if reason is None:
            assert check(env, pushed.reference)["signer"] == f"sigstore {signer}"
        else:
            with pytest.raises(DeployError, match="refused by rule") as caught:
                check(env, pushed.reference)
            assert reason in str(caught.value)


# ---------------------------------------------------------------- identity policy edge cases


def test_identity_edge_cases_are_each_refused_with_their_reason(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    """Exact identities are exact: a longer branch, another repository's workflow, another owner's case, another
    issuer; and a workflow file of this repository called (as a reusable workflow) from another repository."""
    pushed = _push(project, registry, janitor)
    env = get_environment("gated", project)
    workflows = "https://github.com/acme/tiny/.github/workflows"
    for signer, source, reason in (
        (f"{workflows}/deploy.yml@refs/heads/main-evil", None, f"is for {workflows}/deploy.yml@refs/heads/main-evil,"),
        (f"{workflows}/deploy.yml@refs/heads/mainx", None, f"is for {workflows}/deploy.yml@refs/heads/mainx, not"),
        (OTHER_IDENTITY, None, f"is for {OTHER_IDENTITY}, not {IDENTITY}"),
        (
            IDENTITY.replace("acme/tiny", "Acme/tiny"),
            None,
            "(identities are case-sensitive: write OWNER/REPO as the certificate does)",
        ),
        (
            IDENTITY,
            "https://github.com/mallory/caller",
            "ran for the repository https://github.com/mallory/caller, not https://github.com/acme/tiny",
        ),
    ):
        _sign(
            pushed,
            registry,
            lambda payload, s=signer, r=source: instance.sign_dsse(  # type: ignore[misc]
                payload, identity=s, source_repository=r
            ),
        )
        with pytest.raises(
            DeployError, match='refused by rule "signed": signature: the Sigstore certificate'
        ) as caught:
            check(env, pushed.reference)
        assert reason in str(caught.value), signer
    _sign(pushed, registry, instance.signer(IDENTITY))
    assert check(env, pushed.reference)["signer"] == f"sigstore {IDENTITY}"


def test_a_star_identity_checks_the_source_repository_too(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pyproject = project / "pyproject.toml"
    tagged = "https://github.com/acme/tiny/.github/workflows/deploy.yml@refs/tags/"
    text = pyproject.read_text().replace(f'identity = "{IDENTITY}"', f'identity = "{tagged}v*"', 1)
    pyproject.write_text(text.replace('"clean-tree", "branch:main"]', '"clean-tree"]', 1))
    run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "tags"], cwd=project)
    pushed = _push(project, registry, janitor)
    env = get_environment("gated", project)
    _sign(
        pushed,
        registry,
        lambda p: instance.sign_dsse(p, identity=f"{tagged}v9", source_repository="https://github.com/x/y"),
    )
    with pytest.raises(DeployError) as caught:
        check(env, pushed.reference)
    assert "ran for the repository https://github.com/x/y, not https://github.com/acme/tiny" in str(caught.value)


def test_a_key_signed_envelope_and_a_bundle_in_one_attestation_either_may_verify(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance, tmp_path: Path
) -> None:
    """Both kinds beside each other (a project moving from a key to Sigstore): the one that verifies counts;
    when neither does, the refusal names why each failed."""
    from shipyard.attest._sign import sign_statement
    from shipyard.testing import signing_key_pair

    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    repo, manifest, layer = _stored_bundle(registry, pushed)
    bundle = json.loads(repo.blob(layer["digest"]))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    trusted_private, trusted_public = signing_key_pair(tmp_path / "trusted")
    other_private, _ = signing_key_pair(tmp_path / "other")
    trusted = [("trusted.pub", trusted_public.read_bytes())]
    policy = SigstorePolicy(identity=IDENTITY, trusted_root=project / "ci" / "trusted_root.json")
    wrong_policy = SigstorePolicy(identity=OTHER_IDENTITY, trusted_root=project / "ci" / "trusted_root.json")

    def with_envelope(private: Path) -> None:
        envelope = sign_statement(statement, private.read_bytes(), where="test")
        pushed_envelope = repo.push_blob(json.dumps(envelope).encode())
        layers = [item for item in manifest["layers"] if item["mediaType"] != "application/vnd.dsse.envelope.v1+json"]
        layers.insert(0, {**pushed_envelope, "mediaType": "application/vnd.dsse.envelope.v1+json"})
        repo.put_manifest({**manifest, "layers": layers}, tag_for(pushed.digest))

    with_envelope(other_private)  # a bad key-signed envelope beside a good bundle: the bundle verifies
    good_bundle = verify_image(pushed.reference, trusted=trusted, sigstore=policy)
    assert good_bundle.verified, good_bundle.problem
    assert good_bundle.signer == f"sigstore {IDENTITY}"

    with_envelope(trusted_private)  # a good envelope beside a bundle from an identity not trusted: the key verifies
    good_key = verify_image(pushed.reference, trusted=trusted, sigstore=wrong_policy)
    assert good_key.verified, good_key.problem
    assert good_key.signer.startswith("key ")

    with_envelope(other_private)  # neither: both reasons, one line
    neither = verify_image(pushed.reference, trusted=trusted, sigstore=wrong_policy)
    assert not neither.verified
    assert neither.problem is not None
    assert "\n" not in neither.problem
    assert "no trusted key verifies the signature" in neither.problem
    assert f"the Sigstore certificate is for {IDENTITY}, not {OTHER_IDENTITY}" in neither.problem


def test_verifying_a_bundle_loads_no_tuf_client_and_signing_still_can(tmp_path: Path) -> None:
    """A fresh deploy process verifies offline: sigstore's TUF client (tuf's client and metadata, securesystemslib's
    signers, and the boto3 that its KMS signer pulls in) is not needed and not imported (sigstore.errors still
    imports tuf's exceptions, 15 ms); signing in that process later still
    gets the real TrustUpdater."""
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from shipyard.testing import SigstoreInstance
        from shipyard.attest._policy import SigstorePolicy
        from shipyard.attest._sigstore import open_bundle

        heavy = ("tuf.ngclient", "tuf.api.metadata", "securesystemslib.signer", "boto3", "sigstore._internal.tuf",
                 "sigstore.sign")
        instance = SigstoreInstance()
        root = instance.write_trusted_root(Path(sys.argv[1]) / "trusted_root.json")
        statement = {"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicate": {}}
        bundle = instance.sign_dsse(json.dumps(statement).encode(), identity=sys.argv[2])
        assert not [name for name in heavy if name in sys.modules], "loaded before verifying"
        found, signer = open_bundle(bundle, SigstorePolicy(identity=sys.argv[2], trusted_root=root))
        assert found == statement and signer == sys.argv[2]
        loaded = [name for name in heavy if name in sys.modules]
        import sigstore.models
        from sigstore._internal import tuf
        assert (sigstore.models.DEFAULT_TUF_URL, sigstore.models.STAGING_TUF_URL) == (
            tuf.DEFAULT_TUF_URL, tuf.STAGING_TUF_URL)
        updater = sigstore.models.TrustUpdater(tuf.DEFAULT_TUF_URL, True)
        assert isinstance(updater, tuf.TrustUpdater), type(updater)
        print(json.dumps(loaded))
        """
    )
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), IDENTITY],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_invoke_image_verify_with_an_env_says_whether_that_env_would_deploy_it(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    pushed = _push(project, registry, janitor)
    _sign(pushed, registry, instance.signer(IDENTITY))
    env = {k: v for k, v in os.environ.items() if k not in AMBIENT}

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [INVOKE, "image.verify", pushed.reference, *args]
        return subprocess.run(argv, cwd=project, capture_output=True, text=True, env=env, timeout=120, check=False)

    gated = verify("--env", "gated")
    assert gated.returncode == 0, gated.stderr
    assert "rules       'gated' would deploy it (signed, clean-tree, branch:main)" in gated.stdout

    ci_only = verify("--env", "ci-only")  # signed by the trusted identity, but built on this machine
    assert ci_only.returncode == 1
    assert f"verified {pushed.reference}" in ci_only.stdout
    assert ci_only.stderr.strip().count("\n") == 0
    assert 'would refuse it by rule "builder:github-actions": built by' in ci_only.stderr
    assert json.loads(verify("--env", "ci-only", "--json").stdout)["refused_by"] == "builder:github-actions"


def test_a_tag_rule_with_a_branch_identity_is_a_config_error(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('require = ["signed", "clean-tree", "branch:main"]', 'require = ["tag:v*"]', 1))
    with pytest.raises(ConfigError) as caught:
        load_environments(project)
    message = str(caught.value)
    assert "tool.shipyard.environments.gated.require: rule 'tag:v*' and sigstore.identity" in message
    assert "@refs/heads/main cannot both hold" in message
    pyproject.write_text(
        text.replace(f'identity = "{IDENTITY}"', f'identity = "{IDENTITY.rsplit("@", 1)[0]}@refs/tags/v*"')
    )
    pyproject.write_text(
        pyproject.read_text().replace('require = ["signed", "clean-tree", "branch:main"]', 'require = ["tag:v*"]')
    )
    assert load_environments(project)["gated"].require == ("tag:v*",)


def test_clean_tree_and_branch_rules_refuse_a_sigstore_signed_statement_as_a_key_signed_one(
    project: Path, registry: LocalRegistry, janitor: Any, instance: SigstoreInstance
) -> None:
    (project / "image" / "Dockerfile").write_text((project / "image" / "Dockerfile").read_text() + "LABEL dirty=1\n")
    dirty = _push(project, registry, janitor)
    _sign(dirty, registry, instance.signer(IDENTITY))
    assert 'refused by rule "clean-tree": built from a tree with uncommitted changes' in refusal(
        project, "gated", dirty.reference
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    run([*git, "checkout", "-qb", "feature"], cwd=project)
    run([*git, "commit", "-qam", "on a feature branch"], cwd=project)
    feature = _push(project, registry, janitor)
    _sign(feature, registry, instance.signer(IDENTITY))  # even signed as main's workflow: the provenance says feature
    assert 'refused by rule "branch:main": built from branch feature, not branch main' in refusal(
        project, "gated", feature.reference
    )
