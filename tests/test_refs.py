"""Image names and references: what docker accepts is accepted, what it rejects is one reason, before any work."""

from __future__ import annotations

import pytest

from shipyard._refs import parse_reference, registry_problem, repository_problem

DIGEST = "sha256:" + "0123456789abcdef" * 4

VALID = {
    "app": ("app", "", ""),
    "acme/hello-service": ("acme/hello-service", "", ""),
    "a_b/c__d/e--f.g": ("a_b/c__d/e--f.g", "", ""),
    "localhost:5000/a/b:tag": ("localhost:5000/a/b", "tag", ""),
    "127.0.0.1:5000/shipyard/hello-service@" + DIGEST: ("127.0.0.1:5000/shipyard/hello-service", "", DIGEST),
    "registry.example.com/team/app:1.0.0-rc1": ("registry.example.com/team/app", "1.0.0-rc1", ""),
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1@" + DIGEST: (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
        "v1",
        DIGEST,
    ),
    "docker.io/library/python:3.11-slim": ("docker.io/library/python", "3.11-slim", ""),
}

INVALID = {
    "": "empty",
    "Not A Ref!!": "whitespace",
    "A/b": "not a repository name",
    "a//b": "not a repository name",
    "a/b:": "has tag ''",
    "a/-b": "not a repository name",
    "a/b@sha256:XYZ": "digest",
    "a/b@" + DIGEST.upper(): "digest",
    "a/b:" + "t" * 129: "has tag",
    "http://reg/a": "drop http://",
    "reg.example:99999/a": "1-65535",
}


@pytest.mark.parametrize("ref", list(VALID))
def test_references_docker_accepts_are_accepted(ref: str) -> None:
    parsed, problem = parse_reference(ref)
    assert problem is None
    assert parsed is not None
    assert (parsed.name, parsed.tag, parsed.digest) == VALID[ref]


@pytest.mark.parametrize("ref", list(INVALID))
def test_references_docker_rejects_get_one_reason(ref: str) -> None:
    parsed, problem = parse_reference(ref)
    assert parsed is None
    assert problem is not None
    assert INVALID[ref] in problem
    assert "\n" not in problem


def test_repository_and_registry_rules() -> None:
    assert repository_problem("acme/app") is None
    assert "at most 255" in (repository_problem("a" * 256) or "")
    assert registry_problem("127.0.0.1:5000") is None
    assert registry_problem("reg.example.com/team") is None
    assert "'127.0.0.1:5000'" in (registry_problem("http://127.0.0.1:5000/") or "")
    assert "ASCII" in (registry_problem("régistry.example") or "")
    assert "namespace" in (registry_problem("reg.example.com/Team") or "")


def test_a_registry_option_with_a_trailing_slash_pushes_to_the_registry_itself() -> None:
    from shipyard.tasks._options import registry_option

    # "localhost:5000/" would make "localhost:5000//acme/app", which no engine accepts.
    assert registry_option("localhost:5000/", True) == "localhost:5000"
    assert registry_option("reg.example/team/", False) == "reg.example/team"
