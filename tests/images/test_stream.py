"""Reading build and push streams: errors inside a 200 stream, digests, and which faults are transient."""

from __future__ import annotations

import pytest

from shipyard.images import is_transient_message
from shipyard.images._stream import BuildStream, PushStream

DIGEST = "sha256:" + "ab" * 32


def test_a_build_stream_records_steps_cache_hits_and_the_image_id() -> None:
    stream = BuildStream()
    kinds = []
    for line in [
        {"stream": "Step 1/2 : FROM base\n"},
        {"stream": " ---> 1234\n"},
        {"stream": "Step 2/2 : RUN make\n"},
        {"stream": " ---> Using cache\n"},
        {"aux": {"ID": "sha256:feed"}},
    ]:
        kinds += [event.kind for event in stream.feed(line)]
    assert kinds == ["step", "output", "step", "cached"]
    assert [(step.number, step.cached) for step in stream.steps] == [(1, False), (2, True)]
    assert stream.image_id == "sha256:feed"
    assert stream.error is None


def test_an_error_line_is_kept_with_the_failing_step() -> None:
    stream = BuildStream()
    stream.feed({"stream": "Step 3/4 : RUN false\n"})
    events = stream.feed({"error": "boom", "errorDetail": {"code": 1, "message": "The command returned 1"}})
    assert events[0].kind == "error"
    assert stream.error == "The command returned 1"
    assert stream.failing_step == "step 3/4 (RUN false)"


def test_a_push_stream_takes_the_digest_from_aux_or_the_final_status() -> None:
    from_aux = PushStream()
    from_aux.feed({"aux": {"Tag": "1.0", "Digest": DIGEST, "Size": 528}})
    from_status = PushStream()
    from_status.feed({"status": f"1.0: digest: {DIGEST} size: 528"})
    assert from_aux.digest == from_status.digest == DIGEST


def test_a_push_stream_with_an_error_has_the_error_and_no_success() -> None:
    stream = PushStream()
    stream.feed({"status": "Preparing", "id": "abc"})
    stream.feed({"errorDetail": {"message": "denied: requested access to the resource is denied"}, "error": "x"})
    assert stream.digest is None
    assert stream.error == "denied: requested access to the resource is denied"


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("received unexpected HTTP status: 503 Service Unavailable", True),
        ("received unexpected HTTP status: 429 Too Many Requests", True),
        ('Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', True),
        ("Patch http://127.0.0.1:5/v2/x/blobs/uploads/1: EOF", True),
        ("net/http: TLS handshake timeout", True),
        ("unauthorized: authentication required", False),
        ("denied: requested access to the resource is denied", False),
        ("no basic auth credentials", False),
        ("manifest invalid: manifest invalid", False),
    ],
)
def test_only_passing_faults_are_transient(message: str, transient: bool) -> None:
    assert is_transient_message(message) is transient
