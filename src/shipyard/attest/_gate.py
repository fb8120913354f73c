"""The deploy gate: ``require = [...]`` rules an environment checks against an image's verified provenance.

    require = ["signed", "clean-tree", "branch:main", "builder:github-actions"]

Every rule implies ``signed``: the facts of an attestation count only once its signature, subject and SBOM check
out. Rules are validated when the configuration loads (``parse_rules``); ``check`` runs before a deploy changes
anything and raises ``DeployError`` with one line naming the failed rule. This module imports nothing heavy.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from shipyard._errors import ConfigError, DeployError

__all__ = ["RULES", "check", "check_trust_root", "evaluate", "parse_rules"]

RULES = ("signed", "clean-tree", "branch:<name>", "tag:<pattern>", "builder:github-actions", "builder:local")
_BUILDERS = ("github-actions", "local")


def parse_rules(value: object, *, file: str, key: str) -> tuple[str, ...]:
    """``require``'s rules, checked; one-line ``ConfigError`` naming an unknown rule and listing the known ones."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(
            f'must be a list of rules, e.g. ["signed", "clean-tree"]; rules: {", ".join(RULES)}', file=file, key=key
        )
    for rule in value:
        kind, colon, arg = rule.partition(":")
        known = (
            (rule in {"signed", "clean-tree"})
            or (kind == "branch" and colon and arg.strip() == arg and arg != "")
            # A tag name or a glob of one (`tag:v*`), never the full ref: `refs/tags/...` would match nothing.
            or (kind == "tag" and arg.strip() == arg and arg != "" and not arg.startswith("refs/"))
            or (kind == "builder" and arg in _BUILDERS)
        )
        if not known:
            raise ConfigError(f"unknown rule {rule!r}; rules are: {', '.join(RULES)}", file=file, key=key)
    rules = tuple(dict.fromkeys(value))
    # A build has one ref (a branch or a tag) and one builder: no image could pass two of a kind.
    for kinds in (("branch:", "tag:"), ("builder:",)):
        clash = [rule for rule in rules if rule.startswith(kinds)]
        if len(clash) > 1:  # an image has one branch and one builder: no image could ever pass
            raise ConfigError(f"rules {clash[0]!r} and {clash[1]!r} cannot both hold; keep one", file=file, key=key)
    return rules


def check_trust_root(data: Any, envs: Iterable[Any], *, root: Path, file: str) -> None:
    """A gated environment trusts ``[tool.shipyard.signing] public-key`` files that exist, or a Sigstore identity
    (``sigstore = {...}``, checked when it was parsed) (config time)."""
    envs = list(envs)
    gated = [env.name for env in envs if env.require]
    if not gated:
        return
    for env in envs:
        _check_ref_rules(env, file=file)
    from shipyard.attest._config import TABLE, signing_from

    signing = signing_from(data, root=root, file=file)
    keyless = [env.name for env in envs if env.require and getattr(env, "sigstore", None) is not None]
    if not signing.public_keys and set(gated) - set(keyless):
        name = next(name for name in gated if name not in keyless)
        raise ConfigError(
            f"environment {name!r} has require = [...] but no key is trusted; set [{TABLE}] public-key "
            f"(or a Sigstore identity: sigstore = {{ identity = ... }})",
            file=file,
            key=f"{TABLE}.public-key",
        )
    for path in signing.public_keys:
        if not path.is_file():
            raise ConfigError(f"{path} does not exist; fix the path", file=file, key=f"{TABLE}.public-key")
    signing.public_pems()  # readable, and not a private key by mistake


def _check_ref_rules(env: Any, *, file: str) -> None:
    """A ``branch:``/``tag:`` rule and a GitHub workflow identity at another kind of ref: no image passes both
    (the certificate of a tag run names ``@refs/tags/...``, the provenance of that run no branch)."""
    policy = getattr(env, "sigstore", None)
    if policy is None or "/.github/workflows/" not in policy.identity:
        return
    ref = policy.identity.rpartition("@")[2]
    for rule in env.require:
        kind, _, arg = rule.partition(":")
        if kind == "branch":
            wanted = f"refs/heads/{arg}"
            holds = wanted.startswith(ref[:-1]) if ref.endswith("*") else wanted == ref
        elif kind == "tag":
            holds = ref.startswith("refs/tags/")
        else:
            continue
        if not holds:
            raise ConfigError(
                f"rule {rule!r} and sigstore.identity ...@{ref} cannot both hold; deploy from one ref "
                f"(a tag deploy: tag:v* with ...@refs/tags/v*)",
                file=file,
                key=f"tool.shipyard.environments.{env.name}.require",
            )


def evaluate(rules: Sequence[str], verification: Any) -> tuple[str, str] | None:  # noqa: PLR0911 - one per rule
    """The first (rule, reason) that ``verification`` fails, ``signed`` first; ``None`` when every rule holds."""
    if not rules:
        return None
    if verification.problem is not None or not verification.signed:
        return "signed", verification.problem or "the provenance is not signed"
    facts = verification.facts
    for rule in rules:
        kind, _, arg = rule.partition(":")
        if rule == "clean-tree":
            if not facts.get("commit"):
                return rule, "the provenance records no git commit (built outside a git work tree)"
            if facts.get("dirty"):
                return rule, f"built from a tree with uncommitted changes (commit {facts['commit'][:12]}-dirty)"
            if facts.get("untracked"):
                return (
                    rule,
                    f"built with {facts['untracked']} untracked file(s) in the work tree (commit or ignore them)",
                )
        elif kind == "branch" and _ref(facts) != f"refs/heads/{arg}":
            return rule, f"built from {_built_from(facts)}, not branch {arg}"
        elif kind == "tag" and not (
            _ref(facts).startswith("refs/tags/") and fnmatch.fnmatchcase(_ref(facts).removeprefix("refs/tags/"), arg)
        ):
            return rule, f"built from {_built_from(facts)}, not from a tag matching {arg}"
        elif kind == "builder" and facts.get("builder_kind") != arg:
            return (
                rule,
                f"built by {facts.get('builder') or 'an unknown builder'} ({facts.get('invocation', '')}), not {arg}",
            )
    return None


def _ref(facts: dict[str, Any]) -> str:
    return str(facts.get("ref") or (f"refs/heads/{facts['branch']}" if facts.get("branch") else ""))


def _built_from(facts: dict[str, Any]) -> str:
    ref = _ref(facts)
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return f"{kind} {ref.removeprefix(prefix)}"
    return f"ref {ref}" if ref else "no branch or tag (a detached HEAD)"


def check(env: Any, image: str) -> dict[str, Any]:
    """Verify ``image`` for ``env`` (an ``Environment``) before a deploy; the verified facts, or a one-line refusal.

    An environment without ``require`` passes anything and fetches nothing (returns ``{}``).
    """
    rules = tuple(getattr(env, "require", ()) or ())
    if not rules:
        return {}
    from shipyard._errors import ImageError
    from shipyard.attest._config import load_signing
    from shipyard.attest._oci import split_reference
    from shipyard.attest._verify import verify_image

    refused = f"deploy of {image} to {env.name!r} refused by rule"
    try:
        host = split_reference(image)[0]
    except ImageError as exc:
        raise DeployError(f'{refused} "signed": {exc}; deploy by digest') from None
    try:
        from shipyard.images import default_credentials

        # Only the configured public keys: a gate never trusts whatever signing key the deployer happens to hold.
        trusted = [(str(path), pem) for path, pem in load_signing(Path(env.file).parent).public_pems()]
        auth = default_credentials(host).auth_config(host)
        verification = verify_image(image, trusted=trusted, auth=auth, sigstore=getattr(env, "sigstore", None))
    except (ImageError, ConfigError) as exc:
        raise DeployError(f'{refused} "signed": cannot verify: {exc}') from exc
    failed = evaluate(rules, verification)
    if failed is not None:
        raise DeployError(f'{refused} "{failed[0]}": {failed[1]}')
    return {**verification.summary(), "rules": list(rules)}
