"""The journal's redaction (the one ``shipyard._secrets.redact_fields``, with the journal's identifier fields) on an
in-memory store: fast, no engine. The stored bytes never hold a secret, and every record still reads back whole."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shipyard._secrets import registry
from shipyard.deploy._journal import Journal


class MemoryJournal(Journal):
    def __init__(self) -> None:
        super().__init__("stg")
        self.blobs: dict[str, bytes] = {}

    def _write(self, name: str, data: bytes) -> None:
        self.blobs[name] = data

    def _read(self) -> list[tuple[str, bytes]]:
        return sorted(self.blobs.items())


@pytest.fixture
def secrets() -> Iterator[list[str]]:
    # digits of every timestamp, a common word inside image names, and words of the journal's own vocabulary
    values = ["1796", "hello", "start", "deploy", "succeeded", "Tok3nAbCd99"]
    registry.clear()
    for value in values:
        registry.register(value)
    yield values
    registry.clear()


def test_journal_entries_keep_identifiers_and_vocabulary_and_mask_free_text(secrets: list[str]) -> None:
    journal = MemoryJournal()
    image = "reg.example/acme/hello-service@sha256:" + "a" * 64
    secret_repo = "reg.example/Tok3nAbCd99@sha256:" + "b" * 64
    journal.append(
        {
            "kind": "start",
            "deploy_id": "20261202T000000Z-1796abcd",
            "env": "stg",
            "target": "docker",
            "image": image,
            "who": "hello from deploy",
            "action": "deploy",
            "started_at": 1796161267.3,
            "verified": {"image": secret_repo, "note": "signed by Tok3nAbCd99"},
        }
    )
    journal.append({"kind": "phase", "deploy_id": "20261202T000000Z-1796abcd", "phase": "started", "port": 41796})
    journal.append(
        {
            "kind": "end",
            "deploy_id": "20261202T000000Z-1796abcd",
            "result": "succeeded",
            "reason": "hello world, token Tok3nAbCd99",
            "phase": "drained",
            "duration": 17.96,
            "previous_image": secret_repo,
        }
    )
    stored = b"".join(journal.blobs.values()).decode()
    assert "Tok3nAbCd99" not in stored
    (record,) = journal.records()
    assert (record.image, record.action, record.result, record.phase) == (image, "deploy", "succeeded", "drained")
    assert record.started_at == 1796161267.3  # digits of a secret inside a number are kept
    assert record.duration == 17.96
    assert record.deploy_id == "20261202T000000Z-1796abcd"
    assert record.who == "*** from ***"  # free text is masked
    assert record.reason == "*** world, token ***"
    assert record.previous_image == "reg.example/***@sha256:" + "b" * 64  # a secret as a whole component: masked
    entries = [json.loads(blob) for blob in journal.blobs.values()]
    assert entries[0]["verified"] == {"image": "reg.example/***@sha256:" + "b" * 64, "note": "signed by ***"}
    assert entries[1]["port"] == 41796
    assert not journal.problems


def test_a_vocabulary_field_holding_free_text_is_masked_like_any_other(secrets: list[str]) -> None:
    journal = MemoryJournal()
    journal.append({"kind": "phase", "deploy_id": "d1", "phase": "custom phase with Tok3nAbCd99"})
    (entry,) = journal.entries()
    assert entry["phase"] == "custom phase with ***"


def test_rollback_to_a_deploy_whose_image_was_masked_is_refused_in_one_line(secrets: list[str]) -> None:
    """A secret that is a whole component of an image path ("hello" in reg.example/acme/hello:v1) is masked in the
    journal (storing it would store the secret), so that image cannot be deployed again from the journal: rollback
    says so and how to do it, instead of taking the lock and failing on an invalid reference."""
    from shipyard._errors import DeployError
    from shipyard.deploy._flow import rollback_plan

    journal = MemoryJournal()
    for n, image in enumerate(["reg.example/acme/hello:v1", "reg.example/acme/web:v2"]):
        deploy_id = f"20261202T00000{n}Z-abcdef0{n}"
        start = {"kind": "start", "deploy_id": deploy_id, "env": "stg", "target": "docker", "image": image}
        journal.append({**start, "action": "deploy", "who": "me", "started_at": 1.0 + n})
        journal.append({"kind": "end", "deploy_id": deploy_id, "result": "succeeded", "duration": 1.0})
    records = journal.records()
    assert [r.image for r in records] == ["reg.example/acme/***:v1", "reg.example/acme/web:v2"]
    with pytest.raises(DeployError) as raised:
        rollback_plan(records)
    message = str(raised.value)
    assert "\n" not in message
    assert "20261202T000000Z-abcdef00" in message
    assert "masked" in message
    assert "invoke deploy --image" in message
    assert "hello" not in message


@pytest.mark.parametrize(
    "what",
    [
        "kept shipyard-stg-b-20261202T000001Z (proven before the deploy died); stopped shipyard-stg-a",  # docker
        "its rollout had completed; arn:aws:ecs:us-east-1:123:task-definition/app:7 kept",  # ECS
    ],
)
def test_a_killed_deploy_whose_version_was_kept_serves_so_rollback_returns_to_the_one_before_it(what: str) -> None:
    """kill -9 after the bake: the next deploy's recovery keeps that version (proven, serving) and records the dead
    deploy ``abandoned``. ``invoke rollback`` must then go back to the version before it, not two steps back."""
    from shipyard.deploy._flow import rollback_plan

    journal = MemoryJournal()
    for n, result in enumerate(["succeeded", "succeeded", "abandoned"]):
        deploy_id = f"20261202T00000{n}Z-abcdef0{n}"
        start = {"kind": "start", "deploy_id": deploy_id, "env": "stg", "target": "docker", "image": f"r/app:v{n}"}
        journal.append({**start, "action": "deploy", "who": "me", "started_at": 1.0 + n})
        reason = f"its deployer stopped during phase 'stopping' and never came back; {what}" if n == 2 else ""
        journal.append({"kind": "end", "deploy_id": deploy_id, "result": result, "duration": 1.0, "reason": reason})
    chosen, serving = rollback_plan(journal.records())
    assert serving is not None
    assert serving.image == "r/app:v2"
    assert chosen.image == "r/app:v1"
