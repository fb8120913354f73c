"""Resolve an action's release tag to the commit it names, with ``git ls-remote`` (no clone, no API token).

A lightweight tag names the commit itself; an annotated tag names a tag object, and ``ls-remote`` prints the
commit it points to as the peeled ``refs/tags/<tag>^{}`` line. ``uses:`` needs the commit, so an annotated tag
is peeled and said so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard import _command
from shipyard._errors import CommandFailed, ConfigError, ShipyardError
from shipyard.ci._pins import is_sha
from shipyard.ci._sessions import Runner

__all__ = ["Resolved", "list_tags", "newest_release", "resolve"]

_RELEASE = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass(frozen=True)
class Resolved:
    """``tag`` names ``sha`` (a commit); ``tag_object`` is the annotated tag's own SHA, or "" for a lightweight tag."""

    tag: str
    sha: str
    tag_object: str = ""


def _git_reason(output: str) -> str:
    """git's first ``fatal:`` line (its reason), not the advice it prints after it."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["no output"])[0]


def list_tags(url: str, *, run: Runner = _command.run, action: str = "") -> dict[str, Resolved]:
    """Every tag of the repository at ``url``, peeled to its commit."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}  # a missing repository must not ask for a login
    try:
        result = run(["git", "ls-remote", "--tags", url], env=env)
    except CommandFailed as exc:
        raise ShipyardError(
            f"{action or url}: cannot list the tags of {url} ({_git_reason(exc.output)}); check the action name "
            "and [tool.shipyard.ci] actions-git-base"
        ) from exc
    direct: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in result.output.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/") or not is_sha(sha.strip()):
            continue
        name = ref[len("refs/tags/") :]
        if name.endswith("^{}"):
            peeled[name[:-3]] = sha.strip()
        else:
            direct[name] = sha.strip()
    return {
        name: Resolved(name, peeled[name], sha) if name in peeled else Resolved(name, sha)
        for name, sha in direct.items()
    }


def _release_key(tag: str) -> tuple[int, int, int, int] | None:
    match = _RELEASE.fullmatch(tag)
    if not match:
        return None  # pre-releases (v2.0.0-beta) and other tags are never "newest"
    parts = [int(p) if p is not None else 0 for p in match.groups()]
    given = sum(p is not None for p in match.groups())
    return parts[0], parts[1], parts[2], given  # v7.0.1 beats the moving v7 tag when both name the same release


def newest_release(tags: Sequence[str]) -> str | None:
    """The highest ``vX.Y.Z``; a moving ``vX`` / ``vX.Y`` tag only when the repository has no full ones."""
    releases = [(key, tag) for tag in tags if (key := _release_key(tag)) is not None]
    full = [release for release in releases if release[0][3] == 3]
    return max(full or releases)[1] if releases else None


def resolve(action: str, url: str, version: str | None, *, run: Runner = _command.run) -> Resolved:
    """The commit of ``version`` (default: the newest release tag) of ``action``'s repository at ``url``."""
    tags = list_tags(url, run=run, action=action)
    wanted = version or newest_release(list(tags))
    if wanted is None:
        raise ConfigError(f"{action}: {url} has no release tags (vX.Y.Z); pass --to TAG")
    if wanted not in tags:
        newest = newest_release(list(tags))
        hint = f"; the newest release is {newest}" if newest else ""
        raise ConfigError(f"{action}: no tag {wanted!r} in {url}{hint}; pass --to an existing tag")
    return tags[wanted]
