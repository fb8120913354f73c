"""Supply chain, end to end on real images and a real registry: SBOM + signed provenance pushed with the image,
`invoke image.verify`, and the deploy gate refusing each kind of bad attestation with its own one-line reason.

The registry is Debian's docker-registry (distribution 2.8): it has no referrers API, so the attestations are found
through the `sha256-<hex>.att` tag; the referrers path is exercised only where a registry offers it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard._command import run
from shipyard._errors import ConfigError, DeployError, ImageError
from shipyard.attest import verify_image
from shipyard.attest._oci import Registry, tag_for
from shipyard.deploy import HistoryRecord, deploy, get_environment, load_environments
from shipyard.images import BuiltImage, PushedImage, build_image, load_image, push_image
from shipyard.testing import LocalRegistry, signing_key_pair

from ._recording import RecordingTarget, refusal

pytestmark = [pytest.mark.docker, pytest.mark.registry]

INVOKE = str(Path(sys.executable).with_name("invoke"))
KEY_VARS = ("SHIPYARD_SIGNING_KEY", "GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_RUN_ID", "GITHUB_REPOSITORY")


@dataclass
class Keys:
    private: Path
    public: Path
    other_private: Path
    other_public: Path


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    private, public = signing_key_pair(tmp_path / "keys", "trusted")
    other_private, other_public = signing_key_pair(tmp_path / "keys", "other")
    return Keys(private, public, other_private, other_public)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


def _tiny_project(root: Path, base: str) -> Path:
    """A locked project with no dependencies whose image copies its wheel onto ``base``."""
    root.mkdir(parents=True)
    repository = f"shipyard-test/attest-{uuid.uuid4().hex[:10]}"
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
            build-args = {{ BASE_IMAGE = "{base}" }}
            """
        )
    )
    (root / "image").mkdir()
    (root / "image" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY artifacts/app/ /app/\n")
    (root / "dist").mkdir()
    (root / "dist" / "tiny_app-0.1.0-py3-none-any.whl").write_bytes(uuid.uuid4().bytes)  # copied, never installed
    run(["uv", "lock", "--quiet"], cwd=root)
    return root


@pytest.fixture
def signed_project(tmp_path: Path, scratch_base: str, keys: Keys, registry: LocalRegistry) -> Callable[..., Path]:
    """Factory: a tiny project in a git repository (branch ``main`` by default) that signs with ``keys.private``."""

    def make(*, branch: str = "main", sign_with: Path | str | None = keys.private) -> Path:
        root = _tiny_project(tmp_path / uuid.uuid4().hex[:8], scratch_base)
        text = (root / "pyproject.toml").read_text()
        if sign_with == "env":  # the default: the PEM in $SHIPYARD_SIGNING_KEY
            signing = ""
        else:
            signing = f'key = "{sign_with}"\n' if sign_with else 'key-env = "SHIPYARD_TEST_NO_KEY"\n'
        text += textwrap.dedent(
            f"""
            [tool.shipyard.signing]
            public-key = "{keys.public}"
            """
        )
        text += signing
        text += textwrap.dedent(
            f"""
            [tool.shipyard.environments.gated]
            target = "docker"
            registry = "{registry.address}"
            image = "tiny"
            port = 1
            require = ["signed", "clean-tree", "branch:main"]

            [tool.shipyard.environments.ci-only]
            target = "docker"
            registry = "{registry.address}"
            image = "tiny"
            port = 1
            require = ["builder:github-actions"]

            [tool.shipyard.environments.open]
            target = "docker"
            registry = "{registry.address}"
            image = "tiny"
            port = 1
            """
        )
        (root / "pyproject.toml").write_text(text)
        (root / "tasks.py").write_text("from shipyard.tasks import ns\n")
        (root / ".gitignore").write_text("dist/\n.shipyard/\n")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        run([*git, "init", "--quiet", "-b", branch], cwd=root)
        run([*git, "add", "-A"], cwd=root)
        run([*git, "commit", "--quiet", "-m", "init"], cwd=root)
        return root

    return make


def _build_push(root: Path, registry: LocalRegistry, janitor: Any) -> PushedImage:
    built = build_image(load_image("tiny", root))
    janitor.tags += [built.id, *built.tags]
    pushed = push_image(built, registry.address)
    janitor.tags += list(pushed.tags)
    return pushed


# ---------------------------------------------------------------- build + push + verify


def test_push_stores_a_signed_provenance_and_sbom_that_verify(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project()
    pushed = _build_push(root, registry, janitor)
    assert pushed.attested is not None
    assert pushed.attested.signed
    assert pushed.attested.storage == f"tag:{tag_for(pushed.digest)}"
    reference = f"{registry.address}/{pushed.built.image}@{pushed.digest}"

    verification = verify_image(reference, trusted=[("trusted", keys.public.read_bytes())])

    assert verification.verified, verification.problem
    facts = verification.facts
    head = run(["git", "rev-parse", "HEAD"], cwd=root).output.strip()
    assert facts["commit"] == head
    assert facts["dirty"] is False
    assert facts["untracked"] == 0
    assert facts["branch"] == "main"
    assert facts["builder_kind"] == "local"
    assert facts["uv_lock"] == hashlib.sha256((root / "uv.lock").read_bytes()).hexdigest()
    assert facts["dockerfile"] == hashlib.sha256((root / "image" / "Dockerfile").read_bytes()).hexdigest()
    # The base image by its local ID, and the wheel by its hash, are in the SBOM.
    components = verification.sbom["components"]
    wheel = root / "dist" / "tiny_app-0.1.0-py3-none-any.whl"
    wheel_entry = next(c for c in components if c["name"] == "tiny-app")
    assert wheel_entry["hashes"][0]["content"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    base = next(c for c in components if c["type"] == "container")
    assert base["name"].startswith("shipyard-test/scratch:")
    assert facts["base_images"] == [f"{base['name']}@sha256:{base['hashes'][0]['content']}"]
    assert verification.sbom["metadata"]["component"]["name"] == pushed.built.image
    # Debian's docker-registry (distribution 2.8) has no referrers API: that is why the tag form is used.
    request = urllib.request.Request(f"http://{registry.address}/v2/{pushed.built.image}/referrers/{pushed.digest}")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    assert missing.value.code == 404
    missing.value.close()


def test_the_private_key_is_never_stored_or_printed(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project()
    pushed = _build_push(root, registry, janitor)
    secret = keys.private.read_bytes()
    body = secret.split(b"\n")[1]
    for path in (root / ".shipyard").rglob("*"):
        if path.is_file():
            assert body not in path.read_bytes(), path
    repo = Registry(registry.address, pushed.built.image)
    manifest, _ = repo.manifest(tag_for(pushed.digest)) or ({}, "")
    for layer in manifest["layers"]:
        assert body not in repo.blob(layer["digest"])


def test_the_key_can_come_from_the_environment_and_a_bad_one_fails_the_push(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = signed_project(sign_with="env")
    monkeypatch.setenv("SHIPYARD_SIGNING_KEY", keys.private.read_text())
    pushed = _build_push(root, registry, janitor)
    assert pushed.attested is not None
    assert pushed.attested.signed
    monkeypatch.setenv("SHIPYARD_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----")
    built = build_image(load_image("tiny", root))
    with pytest.raises(ConfigError) as caught:
        push_image(built, registry.address)
    assert str(caught.value) == (
        "the signing key from $SHIPYARD_SIGNING_KEY is not an unencrypted PEM private key (ValueError)"
    )


def test_invoke_image_verify_prints_what_the_attestations_say(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    root = signed_project()
    pushed = _build_push(root, registry, janitor)
    tag_ref = f"{registry.address}/{pushed.built.image}:{pushed.built.tag_names[0]}"

    proc = _invoke(root, "image.verify", tag_ref)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"verified {registry.address}/{pushed.built.image}@{pushed.digest}")
    assert "(clean tree) on main" in proc.stdout
    assert "shipyard-test/scratch:" in proc.stdout
    as_json = json.loads(_invoke(root, "image.verify", pushed.reference, "--json").stdout)
    assert as_json["verified"] is True
    assert as_json["commit"] == run(["git", "rev-parse", "HEAD"], cwd=root).output.strip()


def test_invoke_image_push_says_what_it_attested(signed_project: Any, registry: LocalRegistry, janitor: Any) -> None:
    root = signed_project()
    built = _invoke(root, "image.build", "--json")
    assert built.returncode == 0, built.stderr
    janitor.tags += json.loads(built.stdout)["tags"]
    proc = _invoke(root, "image.push", "--registry", registry.address, "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    janitor.tags += row["tags"]
    assert row["attestation"]["signed"] is True
    assert row["attestation"]["storage"] == f"tag:{tag_for(row['digest'])}"
    text = _invoke(root, "image.push", "--registry", registry.address)
    assert f"SBOM + provenance signed, stored as tag:{tag_for(row['digest'])}" in text.stdout


def test_invoke_image_verify_fails_in_one_line_for_an_unattested_image(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    root = signed_project()
    pushed = _push_without_attestations(root, registry, janitor)
    proc = _invoke(root, "image.verify", pushed.reference)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "not verified: no attestation is stored" in proc.stderr
    assert "invoke image.push" in proc.stderr


# ---------------------------------------------------------------- the gate


def test_a_verified_image_deploys_and_history_records_what_was_verified(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    root = signed_project()
    pushed = _build_push(root, registry, janitor)
    target = RecordingTarget()

    result = deploy(get_environment("gated", root), pushed.reference, target=target)  # type: ignore[arg-type]

    assert result.ok
    assert target.calls[-2:] == [f"ship {pushed.reference}", "release"]
    (record,) = target.recorded()
    assert record.verified["verified"] is True
    assert record.verified["commit"] == run(["git", "rev-parse", "HEAD"], cwd=root).output.strip()
    assert record.verified["rules"] == ["signed", "clean-tree", "branch:main"]
    assert record.to_dict()["verified"]["dirty"] is False


def test_an_environment_without_require_deploys_anything(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    root = signed_project()
    pushed = _push_without_attestations(root, registry, janitor)
    target = RecordingTarget()
    result = deploy(get_environment("open", root), pushed.reference, target=target)  # type: ignore[arg-type]
    assert result.ok
    assert f"ship {pushed.reference}" in target.calls
    assert target.recorded()[0].verified == {}


def test_gate_refuses_an_image_without_attestations(signed_project: Any, registry: LocalRegistry, janitor: Any) -> None:
    root = signed_project()
    pushed = _push_without_attestations(root, registry, janitor)
    message = refusal(root, "gated", pushed.reference)
    assert 'refused by rule "signed": no attestation is stored for' in message


def test_gate_refuses_an_unsigned_image(signed_project: Any, registry: LocalRegistry, janitor: Any) -> None:
    root = signed_project(sign_with=None)
    pushed = _build_push(root, registry, janitor)
    assert pushed.attested is not None
    assert pushed.attested.signed is False
    message = refusal(root, "gated", pushed.reference)
    assert 'refused by rule "signed": the provenance is not signed' in message


def test_gate_refuses_a_signature_by_another_key(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project(sign_with=keys.other_private)
    pushed = _build_push(root, registry, janitor)
    message = refusal(root, "gated", pushed.reference)
    assert 'refused by rule "signed": signature: no trusted key verifies the signature' in message


def test_gate_refuses_a_statement_for_another_digest(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    root = signed_project()
    genuine = _build_push(root, registry, janitor)
    victim = _push_without_attestations(root, registry, janitor, name="other")
    # An attacker copies the genuine, signed attestation onto another image (same repository, same key).
    repo = Registry(registry.address, genuine.built.image)
    manifest, _ = repo.manifest(tag_for(genuine.digest)) or ({}, "")
    victim_repo = Registry(registry.address, victim.built.image)
    for layer in [manifest["config"], *manifest["layers"]]:
        victim_repo.push_blob(repo.blob(layer["digest"]))
    manifest["subject"] = victim_repo.manifest_descriptor(victim.digest)
    victim_repo.put_manifest(manifest, tag_for(victim.digest))

    message = refusal(root, "gated", victim.reference)

    assert f'refused by rule "signed": the signed provenance is for sha256:{genuine.digest[7:19]}' in message


def test_gate_refuses_a_tampered_sbom(signed_project: Any, registry: LocalRegistry, janitor: Any) -> None:
    root = signed_project()
    pushed = _build_push(root, registry, janitor)
    repo = Registry(registry.address, pushed.built.image)
    manifest, _ = repo.manifest(tag_for(pushed.digest)) or ({}, "")
    sbom_layer = next(layer for layer in manifest["layers"] if layer["mediaType"] == "application/vnd.cyclonedx+json")
    sbom = json.loads(repo.blob(sbom_layer["digest"]))
    sbom["components"] = [c for c in sbom["components"] if c["type"] != "container"]  # hide the base image
    sbom_layer.update(repo.push_blob(json.dumps(sbom).encode()))
    repo.put_manifest(manifest, tag_for(pushed.digest))

    message = refusal(root, "gated", pushed.reference)

    assert 'refused by rule "signed": the SBOM\'s digest differs from the one in the signed provenance' in message


def test_gate_refuses_a_dirty_tree_build(signed_project: Any, registry: LocalRegistry, janitor: Any) -> None:
    root = signed_project()
    with (root / "image" / "Dockerfile").open("a") as fh:
        fh.write("# an uncommitted change\n")
    pushed = _build_push(root, registry, janitor)
    assert pushed.built.revision is not None
    assert pushed.built.revision.endswith("-dirty")
    message = refusal(root, "gated", pushed.reference)
    assert 'refused by rule "clean-tree": built from a tree with uncommitted changes' in message


def test_gate_refuses_a_build_with_untracked_files(signed_project: Any, registry: LocalRegistry, janitor: Any) -> None:
    root = signed_project()
    (root / "image" / "new_module.py").write_text("print('not in any commit')\n")  # in the build context
    pushed = _build_push(root, registry, janitor)
    assert pushed.built.revision is not None
    assert not pushed.built.revision.endswith("-dirty"), "git status without untracked files calls this clean"
    message = refusal(root, "gated", pushed.reference)
    assert 'refused by rule "clean-tree": built with 1 untracked file(s) in the work tree' in message


def test_gate_refuses_another_branch(signed_project: Any, registry: LocalRegistry, janitor: Any) -> None:
    root = signed_project(branch="feature")
    pushed = _build_push(root, registry, janitor)
    message = refusal(root, "gated", pushed.reference)
    assert 'refused by rule "branch:main": built from branch feature, not branch main' in message


def test_builder_rule_tells_a_local_build_from_a_github_actions_run(
    signed_project: Any, registry: LocalRegistry, janitor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = signed_project()
    local = _build_push(root, registry, janitor)
    assert 'refused by rule "builder:github-actions": built by' in refusal(root, "ci-only", local.reference)

    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REPOSITORY": "acme/tiny",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_SERVER_URL": "https://github.com",
    }.items():
        monkeypatch.setenv(name, value)
    (root / "image" / "Dockerfile").write_text((root / "image" / "Dockerfile").read_text() + "LABEL ci=1\n")
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e.invalid", "commit", "-qam", "ci"], cwd=root)
    in_ci = _build_push(root, registry, janitor)
    target = RecordingTarget()
    result = deploy(get_environment("ci-only", root), in_ci.reference, target=target)  # type: ignore[arg-type]
    assert result.details["verified"]["invocation"] == "https://github.com/acme/tiny/actions/runs/4242/attempts/2"
    assert result.details["verified"]["branch"] == "main"


def test_a_tag_rule_passes_a_ci_build_of_a_tag_and_refuses_a_branch_or_a_dirty_tree(
    signed_project: Any, registry: LocalRegistry, janitor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What deploy.yml does: a `v*` tag push builds, pushes and deploys; the provenance records the ref."""
    root = signed_project()
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + textwrap.dedent(
            f"""
            [tool.shipyard.environments.release]
            target = "docker"
            registry = "{registry.address}"
            image = "tiny"
            port = 1
            require = ["signed", "clean-tree", "tag:v*", "builder:github-actions"]
            """
        )
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@e.invalid"]
    run([*git, "commit", "-qam", "release env"], cwd=root)
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/tiny", "GITHUB_RUN_ID": "7", "GITHUB_REF": ""}
    for name, value in ci.items():
        monkeypatch.setenv(name, value)

    def build(ref: str, label: str) -> PushedImage:
        monkeypatch.setenv("GITHUB_REF", ref)
        dockerfile = root / "image" / "Dockerfile"
        dockerfile.write_text(dockerfile.read_text() + f"LABEL build={label}\n")
        run([*git, "commit", "-qam", label], cwd=root)
        return _build_push(root, registry, janitor)

    tagged = build("refs/tags/v1.4.2", "tag")
    target = RecordingTarget()
    result = deploy(get_environment("release", root), tagged.reference, target=target)  # type: ignore[arg-type]
    assert result.ok
    assert result.details["verified"]["ref"] == "refs/tags/v1.4.2"
    assert result.details["verified"]["branch"] is None
    (record,) = target.recorded()
    assert record.verified["ref"] == "refs/tags/v1.4.2"

    on_branch = build("refs/heads/feature", "branch")
    message = refusal(root, "release", on_branch.reference)
    assert 'refused by rule "tag:v*": built from branch feature, not from a tag matching v*' in message
    assert 'refused by rule "branch:main": built from branch feature' in refusal(root, "gated", on_branch.reference)

    other_tag = build("refs/tags/nightly-3", "nightly")
    assert 'refused by rule "tag:v*": built from tag nightly-3, not from a tag matching v*' in refusal(
        root, "release", other_tag.reference
    )
    assert 'refused by rule "branch:main": built from tag nightly-3, not branch main' in refusal(
        root, "gated", other_tag.reference
    )

    monkeypatch.setenv("GITHUB_REF", "refs/tags/v1.4.3")
    (root / "image" / "Dockerfile").write_text((root / "image" / "Dockerfile").read_text() + "LABEL dirty=1\n")
    dirty = _build_push(root, registry, janitor)
    assert 'refused by rule "clean-tree": built from a tree with uncommitted changes' in refusal(
        root, "release", dirty.reference
    )


def test_a_local_build_of_a_checked_out_tag_records_the_tag(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project()
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e.invalid", "tag", "-a", "-m", "r", "v2.0.0"], cwd=root)
    run(["git", "checkout", "--quiet", "v2.0.0"], cwd=root)  # detached at the tag
    pushed = _build_push(root, registry, janitor)
    verification = verify_image(pushed.reference, trusted=[("trusted", keys.public.read_bytes())])
    assert verification.verified, verification.problem
    assert verification.facts["ref"] == "refs/tags/v2.0.0"
    assert verification.facts["branch"] is None
    run(["git", "checkout", "--quiet", "main"], cwd=root)
    (root / "image" / "Dockerfile").write_text((root / "image" / "Dockerfile").read_text() + "LABEL main=1\n")
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e.invalid", "commit", "-qam", "on main"], cwd=root)
    on_main = verify_image(
        _build_push(root, registry, janitor).reference, trusted=[("trusted", keys.public.read_bytes())]
    )
    assert on_main.facts["ref"] == "refs/heads/main"
    assert on_main.facts["branch"] == "main"


def test_the_tag_rule_is_checked_at_config_time() -> None:
    from shipyard.attest import parse_rules

    assert parse_rules(["signed", "tag:v*"], file="pyproject.toml", key="k") == ("signed", "tag:v*")
    for rules in (["tag:v*", "branch:main"], ["tag:v*", "tag:release-*"]):
        with pytest.raises(ConfigError, match=r"pyproject\.toml: k: rules .* cannot both hold"):
            parse_rules(rules, file="pyproject.toml", key="k")
    for bad in ("tag:", "tag: v*", "tag:refs/tags/v*"):
        with pytest.raises(ConfigError, match="unknown rule"):
            parse_rules([bad], file="pyproject.toml", key="k")


def test_this_repositorys_production_gate_passes_what_its_deploy_workflow_builds() -> None:
    """deploy.yml deploys production from `v*` tags: the gate must pass a clean, signed CI build of such a tag."""
    from shipyard.attest import evaluate
    from shipyard.attest._verify import Verification

    repo = Path(__file__).resolve().parents[2]
    production = get_environment("production", repo)
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "deploy.yml").read_text())
    assert workflow["on"]["push"] == {"tags": ["v*"]}
    assert "tag:v*" in production.require

    def facts(ref: str, *, dirty: bool = False) -> Verification:
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        found = {"commit": "a" * 40, "dirty": dirty, "untracked": 0, "ref": ref, "branch": branch}
        found["builder"] = "https://github.com/actions/runner/github-hosted"
        found["builder_kind"] = "github-actions"
        return Verification("r", "sha256:" + "0" * 64, signed=True, facts=found)

    assert evaluate(production.require, facts("refs/tags/v1.4.2")) is None
    assert evaluate(production.require, facts("refs/tags/v1.4.2", dirty=True)) is not None
    assert evaluate(production.require, facts("refs/heads/main")) is not None
    assert evaluate(production.require, facts("refs/heads/feature")) is not None


def test_gate_refuses_a_reference_without_a_digest(signed_project: Any) -> None:
    root = signed_project()
    message = refusal(root, "gated", "127.0.0.1:1/shipyard-test/tiny:latest")
    assert 'refused by rule "signed"' in message
    assert "deploy by digest" in message


def test_invoke_deploy_refuses_in_one_line_naming_the_rule(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    root = signed_project(sign_with=None)
    pushed = _build_push(root, registry, janitor)
    proc = _invoke(root, "deploy", "--env", "gated", "--image", pushed.reference)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert 'refused by rule "signed": the provenance is not signed' in lines[0]


# ---------------------------------------------------------------- configuration


def test_an_unknown_rule_is_one_config_error_naming_the_key(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [tool.shipyard.signing]
            public-key = "{keys.public}"
            [tool.shipyard.environments.prod]
            target = "docker"
            image = "x"
            port = 1
            require = ["signed", "reviewed-by:alice"]
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_environments(tmp_path)
    message = str(caught.value)
    assert "tool.shipyard.environments.prod.require: unknown rule 'reviewed-by:alice'" in message
    assert "rules are: signed, clean-tree, branch:<name>" in message


def test_a_gate_without_a_trusted_key_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.shipyard.environments.prod]\ntarget = "docker"\nimage = "x"\nport = 1\nrequire = ["signed"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_environments(tmp_path)
    assert "tool.shipyard.signing.public-key" in str(caught.value)
    assert "no key is trusted" in str(caught.value)


# ---------------------------------------------------------------- helpers


def _push_without_attestations(root: Path, registry: LocalRegistry, janitor: Any, *, name: str = "bare") -> PushedImage:
    """A different image (its own layer) pushed without any build record: what `docker push` by hand gives."""
    built = build_image(load_image("tiny", root))
    janitor.tags += [built.id, *built.tags]
    import docker

    client = docker.from_env()
    try:
        container = client.containers.create(built.id, command=["true"])
        try:
            image = container.commit(repository=f"{built.image}-{name}", tag="bare")
        finally:
            container.remove()
    finally:
        client.close()
    janitor.tags.append(f"{built.image}-{name}:bare")
    bare = BuiltImage(name, f"{built.image}-{name}", (f"{built.image}-{name}:bare",), str(image.id), "0", None)
    pushed = push_image(bare, registry.address)
    janitor.tags += list(pushed.tags)
    assert pushed.attested is None
    return pushed


def _invoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    return subprocess.run([INVOKE, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_signing_config_mistakes_are_one_line_naming_the_key(tmp_path: Path) -> None:
    from shipyard.attest import load_signing

    (tmp_path / "pyproject.toml").write_text('[tool.shipyard.signing]\nprivate-key = "k.pem"\n')
    with pytest.raises(ConfigError, match=r"tool\.shipyard\.signing\.private-key: unknown key 'private-key'"):
        load_signing(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.shipyard.signing]\nkey = "missing.pem"\n')
    with pytest.raises(ConfigError, match=r"tool\.shipyard\.signing\.key: cannot read the signing key"):
        load_signing(tmp_path).private_pem()
    (tmp_path / "pyproject.toml").write_text('[tool.shipyard.signing]\nkey-env = "NOT A VAR"\n')
    with pytest.raises(ConfigError, match="is not an environment variable name"):
        load_signing(tmp_path)


def test_the_sbom_lists_exactly_the_locked_requirements_the_image_installs(hello_workspace: Path) -> None:
    from shipyard.attest._sbom import image_sbom
    from shipyard.images._artifacts import export_requirements

    config = load_image("hello-service", hello_workspace)
    wheel = hello_workspace / "hello_service-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    base = {"name": "shipyard/python-base:bookworm", "id": "sha256:" + "ab" * 32, "repo_digests": []}
    inputs = {"package": config.package, "version": config.version, "repository": config.repository}
    sbom = image_sbom(root=hello_workspace, wheel=wheel, bases=[base], created="2026-01-01T00:00:00Z", **inputs)

    installed = {line.split("==")[0] for line in export_requirements(config).splitlines() if "==" in line}
    libraries = {c["name"] for c in sbom["components"] if c["type"] == "library"}
    assert libraries == {*installed, "hello-service"}
    assert "shipyard" not in libraries  # the workspace root is not in the image
    pinned = {c["name"]: c.get("version") for c in sbom["components"]}
    assert pinned["hello-service"] == config.version
    (container,) = [c for c in sbom["components"] if c["type"] == "container"]
    assert container["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    assert sbom["metadata"]["component"] == {
        "type": "container", "bom-ref": "image", "name": config.repository, "version": config.version,
    }  # fmt: skip
    refs = {c["bom-ref"] for c in sbom["components"]}
    assert all(d["ref"] in refs for d in sbom["dependencies"])
    again = image_sbom(root=hello_workspace, wheel=wheel, bases=[base], created="2026-01-01T00:00:00Z", **inputs)
    assert again == sbom, "the same inputs give the same SBOM"


def test_a_push_with_a_broken_build_record_fails_and_a_rebuild_attests(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project()
    built = build_image(load_image("tiny", root))
    janitor.tags += [built.id, *built.tags]
    assert built.attestations is not None
    (built.attestations / "sbom.cdx.json").unlink()
    with pytest.raises(ImageError, match=r"build record .* is missing or corrupt"):
        push_image(built, registry.address)
    janitor.tags += [f"{registry.address}/{tag}" for tag in built.tags]
    pushed = _build_push(root, registry, janitor)  # the rebuild writes the record again; the push attests
    trusted = [("trusted", keys.public.read_bytes())]
    assert verify_image(f"{registry.address}/{pushed.built.image}@{pushed.digest}", trusted=trusted).verified


@pytest.mark.slow
def test_the_deploy_chain_signs_verifies_deploys_and_records_it(
    docker_client: Any, python_base: str, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hello-service through the real chain and docker target: the push signs, the gate verifies, history keeps it."""
    import dataclasses

    import httpx

    from shipyard.deploy import history
    from shipyard.deploy._chain import deploy_chain
    from shipyard.testing import free_port, remove_environment

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764000000")
    monkeypatch.setenv("SHIPYARD_SIGNING_KEY", keys.private.read_text())  # the repository's key-env
    # The gate reads its trust root beside the environment's file: a copy that trusts this test's key.
    trust = tmp_path / "trust" / "pyproject.toml"
    trust.parent.mkdir()
    trust.write_text(f'[tool.shipyard.signing]\npublic-key = "{keys.public}"\n')
    name, port = f"attest-{uuid.uuid4().hex[:8]}", free_port()
    local = get_environment("local", repo)
    with LocalRegistry() as registry:
        env = dataclasses.replace(
            local, name=name, registry=registry.address, settings={**local.settings, "port": port},
            require=("signed",), file=str(trust),
        )  # fmt: skip
        try:
            result = deploy_chain(env)
            assert result.ok, result.reason
            assert result.details["verified"]["verified"] is True
            assert httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()["service"] == "hello-service"
            (record,) = [r for r in history(env) if r.image == result.image]
            assert record.verified["keyid"] == result.details["verified"]["keyid"]
            assert record.verified["commit"] == run(["git", "rev-parse", "HEAD"], cwd=repo).output.strip()
            assert "hello-service" in record.verified["package"]
        finally:
            remove_environment(docker_client, name)
            for image in docker_client.images.list(name=f"{registry.address}/shipyard/hello-service"):
                for tag in image.tags:
                    docker_client.images.remove(tag)


# ---------------------------------------------------------------- an attacker with push access, without the key


def _forge(registry: LocalRegistry, victim: PushedImage, manifest: Any, blobs: list[bytes] = ()) -> bool:  # type: ignore[assignment]
    """Store ``manifest`` (anything JSON) under the victim's ``sha256-<hex>.att`` tag, with ``blobs`` uploaded.

    ``False`` when the registry itself refuses the manifest (then that attack cannot happen on it)."""
    repo = Registry(registry.address, victim.built.image)
    for blob in [b"{}", *blobs]:
        repo.push_blob(blob)
    data = json.dumps(manifest).encode()
    media_type = (
        manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        if isinstance(manifest, dict)
        else "application/vnd.oci.image.manifest.v1+json"
    )
    request = urllib.request.Request(
        f"http://{registry.address}/v2/{victim.built.image}/manifests/{tag_for(victim.digest)}",
        data=data,
        method="PUT",
        headers={"Content-Type": media_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except urllib.error.HTTPError:
        return False


def _layer(data: bytes, media_type: str) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def test_forged_artifacts_are_each_refused_in_one_line(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    import base64

    root = signed_project()
    genuine = _build_push(root, registry, janitor)
    victim = _push_without_attestations(root, registry, janitor, name="victim")
    repo = Registry(registry.address, genuine.built.image)
    manifest, _ = repo.manifest(tag_for(genuine.digest)) or ({}, "")
    dsse_layer = next(layer for layer in manifest["layers"] if layer["mediaType"].startswith("application/vnd.dsse"))
    envelope = json.loads(repo.blob(dsse_layer["digest"]))
    sbom = repo.blob(next(layer for layer in manifest["layers"] if layer is not dsse_layer)["digest"])
    subject = Registry(registry.address, victim.built.image).manifest_descriptor(victim.digest)
    dsse_type = "application/vnd.dsse.envelope.v1+json"
    sbom_type = "application/vnd.cyclonedx+json"

    def artifact(envelope_bytes: bytes, **changes: Any) -> tuple[dict[str, Any], list[bytes]]:
        forged = {**manifest, "subject": subject,
                  "layers": [_layer(envelope_bytes, dsse_type), _layer(sbom, sbom_type)], **changes}  # fmt: skip
        return forged, [envelope_bytes, sbom]

    def refused(forged: Any, blobs: list[bytes] = (), *, stored: bool = True) -> str:  # type: ignore[assignment]
        assert _forge(registry, victim, forged, list(blobs)) or not stored
        return refusal(root, "gated", victim.reference)

    # 1. The genuine manifest re-tagged onto the victim (its subject still names the genuine image).
    assert "the attestation manifest's subject is another image" in refused(
        manifest, [json.dumps(envelope).encode(), sbom]
    )
    # 2. Subject = victim, the signed payload names the genuine digest.
    assert f"the signed provenance is for sha256:{genuine.digest[7:19]}" in refused(
        *artifact(json.dumps(envelope).encode())
    )
    # 3. The payload type changed (the signature covers it).
    retyped = json.dumps({**envelope, "payloadType": "application/json"}).encode()
    assert "payload type is 'application/json'" in refused(*artifact(retyped))
    # 4. No signatures at all.
    unsigned = json.dumps({**envelope, "signatures": []}).encode()
    assert "the envelope carries no signature" in refused(*artifact(unsigned))
    # 5. A statement for the victim, signed by another key, beside... nothing valid: refused.
    other_statement = json.loads(base64.b64decode(envelope["payload"]))
    other_statement["subject"] = [{"name": "x", "digest": {"sha256": victim.digest[7:]}}]
    from shipyard.attest._sign import sign_statement

    forged_env = sign_statement(other_statement, keys.other_private.read_bytes(), where="test")
    assert "no trusted key verifies the signature" in refused(*artifact(json.dumps(forged_env).encode()))
    # 6. The forged signature plus the genuine one (which covers a different payload): still refused.
    mixed = {**forged_env, "signatures": [*forged_env["signatures"], *envelope["signatures"]]}
    assert "no trusted key verifies the signature" in refused(*artifact(json.dumps(mixed).encode()))
    # 7. Malformed manifests: a JSON array, a string subject, layers without digests, a layer list of strings.
    for broken in (
        [manifest],
        {**manifest, "subject": "sha256:" + victim.digest[7:]},
        {**manifest, "subject": subject, "layers": [{"mediaType": dsse_type}]},
        {**manifest, "subject": subject, "layers": ["x", 1, None]},
        {**manifest, "subject": subject, "layers": {"mediaType": dsse_type}},
        {**manifest, "subject": subject, "layers": [{"mediaType": dsse_type, "digest": 7}]},
    ):
        message = refused(broken, stored=False)
        assert 'refused by rule "signed"' in message, message
    # 8. A deeply nested JSON envelope (json's recursion limit) and a malformed one.
    nested = b"[" * 200_000 + b"]" * 200_000
    assert "not a DSSE envelope" in refused(*artifact(nested))
    assert "not a DSSE envelope" in refused(*artifact(b'{"payload": '))
    # 9. A manifest list under the tag.
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{**subject, "platform": {"os": "linux", "architecture": "amd64"}}]}  # fmt: skip
    assert 'refused by rule "signed"' in refused(index, stored=False)


def test_an_extra_signature_by_an_untrusted_key_beside_the_valid_one_changes_nothing(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project()
    genuine = _build_push(root, registry, janitor)
    repo = Registry(registry.address, genuine.built.image)
    manifest, _ = repo.manifest(tag_for(genuine.digest)) or ({}, "")
    dsse_layer = next(layer for layer in manifest["layers"] if layer["mediaType"].startswith("application/vnd.dsse"))
    envelope = json.loads(repo.blob(dsse_layer["digest"]))
    envelope["signatures"].insert(0, {"keyid": "f" * 64, "sig": "AAAA"})
    data = json.dumps(envelope).encode()
    dsse_layer.update(repo.push_blob(data))
    repo.put_manifest(manifest, tag_for(genuine.digest))

    verification = verify_image(genuine.reference, trusted=[("trusted", keys.public.read_bytes())])

    assert verification.verified, verification.problem


def test_an_oversized_attestation_blob_is_refused_without_reading_it_whole(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    root = signed_project()
    victim = _push_without_attestations(root, registry, janitor, name="huge")
    subject = Registry(registry.address, victim.built.image).manifest_descriptor(victim.digest)
    huge = b" " * (40 * 1024 * 1024)  # 40 MiB of whitespace: valid JSON padding, far beyond any attestation
    forged = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "artifactType": "application/vnd.in-toto+json",
              "config": _layer(b"{}", "application/vnd.oci.empty.v1+json"),
              "layers": [_layer(huge, "application/vnd.dsse.envelope.v1+json")], "subject": subject}  # fmt: skip
    _forge(registry, victim, forged, [huge])
    for lied in (None, 10):  # the true size, then a descriptor that lies about it
        if lied is not None:
            forged["layers"][0]["size"] = lied
            _forge(registry, victim, forged)
        message = refusal(root, "gated", victim.reference)
        assert 'refused by rule "signed"' in message
        assert "too large" in message, message


@contextlib.contextmanager
def _bad_registry(kind: str) -> Iterator[str]:
    """A registry on 127.0.0.1 that answers every request with 500, or accepts connections and never answers."""
    import http.server
    import socket
    import threading

    if kind == "500":

        class Failing(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"internal error")

            do_HEAD = do_GET  # noqa: N815 - http.server names its handlers so

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
        return
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"  # the kernel completes handshakes; nobody ever answers
    finally:
        listener.close()


@pytest.mark.parametrize("kind", ["500", "hang"])
def test_a_faulty_registry_is_one_bounded_error(kind: str) -> None:
    import time

    digest = "sha256:" + "ab" * 32
    with _bad_registry(kind) as address:
        started = time.monotonic()
        with pytest.raises(ImageError) as caught:
            verify_image(f"{address}/acme/app@{digest}", trusted=[], timeout=1.0)
        elapsed = time.monotonic() - started
    assert "\n" not in str(caught.value)
    assert address in str(caught.value)
    assert elapsed < 8, f"verification waited {elapsed:.1f} s on a {kind} registry"


def test_invoke_image_verify_user_mistakes_are_one_line(signed_project: Any, registry: LocalRegistry) -> None:
    root = signed_project()
    digest = "sha256:" + "cd" * 32
    with _bad_registry("500") as down:
        cases = {
            "acme/app": "is not an image reference",  # no registry host: not a DNS lookup of "acme"
            f"{registry.address}/acme/unknown:v1": "has no acme/unknown:v1",
            f"{registry.address}/acme/unknown@{digest}": f"registry {registry.address} has no image acme/unknown@",
            f"{down}/acme/app@{digest}": "answered 500",
        }
        for reference, expected in cases.items():
            proc = _invoke(root, "image.verify", reference)
            assert proc.returncode == 1, reference
            assert "Traceback" not in proc.stderr
            assert proc.stderr.strip().count("\n") == 0, proc.stderr  # no retry warnings before the line
            assert expected in proc.stderr, proc.stderr


def test_key_mistakes_never_echo_the_private_key(tmp_path: Path, keys: Keys) -> None:
    from shipyard.attest import load_signing

    pem = keys.private.read_text()
    body = pem.split("\n")[1]
    escaped = pem.replace("\n", "\\n")
    # A PEM pasted where a variable name or a path belongs.
    for line in (f'key-env = "{escaped}"', f'key = "{escaped}"'):
        (tmp_path / "pyproject.toml").write_text(f"[tool.shipyard.signing]\n{line}\n")
        with pytest.raises(ConfigError) as caught:
            load_signing(tmp_path).private_pem()
        assert body not in str(caught.value)
        assert "\n" not in str(caught.value)
        assert "private key" in str(caught.value)


def test_a_private_key_given_as_the_trust_root_is_refused_at_config_time(tmp_path: Path, keys: Keys) -> None:
    body = keys.private.read_text().split("\n")[1]
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "x"
            version = "0"

            [tool.shipyard.signing]
            public-key = "{keys.private}"

            [tool.shipyard.environments.production]
            target = "docker"
            registry = "127.0.0.1:1"
            image = "x"
            port = 1
            require = ["signed"]
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_environments(tmp_path)
    message = str(caught.value)
    assert "tool.shipyard.signing.public-key" in message
    assert "is a private key" in message
    assert body not in message


def test_a_passphrase_protected_or_readable_by_others_signing_key_is_one_line(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat

    from shipyard.attest import load_signing
    from shipyard.attest._sign import sign_statement

    encrypted = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
    )
    key = tmp_path / "key.pem"
    key.touch(mode=0o600)
    key.write_bytes(encrypted)
    (tmp_path / "pyproject.toml").write_text('[tool.shipyard.signing]\nkey = "key.pem"\n')
    with pytest.raises(ConfigError, match="is not an unencrypted PEM private key") as caught:
        sign_statement({}, load_signing(tmp_path).private_pem() or b"", where=str(key))
    assert "\n" not in str(caught.value)
    key.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by other users; chmod 600") as caught:
        load_signing(tmp_path).private_pem()
    assert "tool.shipyard.signing.key" in str(caught.value)


def test_rollback_to_an_image_deployed_before_the_gate_is_refused(
    signed_project: Any, registry: LocalRegistry, janitor: Any
) -> None:
    from shipyard.deploy import rollback

    root = signed_project()
    genuine = _build_push(root, registry, janitor)
    before_gate = _push_without_attestations(root, registry, janitor, name="old")
    target = RecordingTarget()
    for image in (before_gate.reference, genuine.reference):
        target.records.append(HistoryRecord(uuid.uuid4().hex, "gated", "recording", image, 0.0, 0.0, "succeeded", "t"))

    with pytest.raises(DeployError) as caught:
        rollback(get_environment("gated", root), target=target)  # type: ignore[arg-type]

    assert target.calls == []
    assert len(target.recorded()) == 2
    message = str(caught.value)
    assert "\n" not in message
    assert f"{before_gate.reference} to 'gated' refused by rule \"signed\": no attestation is stored" in message


def test_a_detached_head_build_fails_the_branch_rule_only(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project()
    run(["git", "checkout", "--quiet", "--detach"], cwd=root)
    (root / "dist" / "ignored.txt").write_text("in .gitignore: not an untracked file of the build\n")
    pushed = _build_push(root, registry, janitor)
    verification = verify_image(pushed.reference, trusted=[("trusted", keys.public.read_bytes())])
    assert verification.verified, verification.problem
    assert verification.facts["branch"] is None
    assert verification.facts["untracked"] == 0
    message = refusal(root, "gated", pushed.reference)
    assert 'refused by rule "branch:main": built from no branch or tag (a detached HEAD), not branch main' in message


def test_rules_no_image_could_pass_are_a_config_error() -> None:
    from shipyard.attest import parse_rules

    assert parse_rules(["signed", "signed", "branch:main"], file="pyproject.toml", key="k") == ("signed", "branch:main")
    for rules in (["branch:main", "branch:release"], ["builder:local", "builder:github-actions"]):
        with pytest.raises(ConfigError, match=r"pyproject\.toml: k: rules .* cannot both hold; keep one"):
            parse_rules(rules, file="pyproject.toml", key="k")


def test_no_output_log_record_or_registry_file_holds_the_private_key(
    signed_project: Any, registry: LocalRegistry, janitor: Any, keys: Keys
) -> None:
    root = signed_project(sign_with="env")
    pem = keys.private.read_text()
    body = pem.split("\n")[1]
    env = {**{k: v for k, v in os.environ.items() if k not in KEY_VARS}, "SHIPYARD_SIGNING_KEY": pem, "CI": "true"}
    outputs = []
    for args in (("image.build", "--json"), ("image.push", "--registry", registry.address, "--json")):
        proc = subprocess.run(
            [INVOKE, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
        janitor.tags += json.loads(proc.stdout).get("tags", [])
    pushed = json.loads(outputs[2])
    verify = _invoke(root, "image.verify", pushed["reference"], "--json")
    assert json.loads(verify.stdout)["verified"] is True
    outputs += [verify.stdout, verify.stderr]
    for text in outputs:
        assert body not in text
    stored = [*root.rglob("*"), *registry._dir.rglob("*")]
    for path in stored:
        if path.is_file() and ".git" not in path.parts:
            assert body.encode() not in path.read_bytes(), path
    assert any("blobs" in path.parts for path in stored)  # the registry's storage was searched
