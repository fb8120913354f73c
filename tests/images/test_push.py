"""Pushing to real local registries: auth, fault injection, a registry that is down, concurrency, ECR auth."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shipyard.images import (
    BuiltImage,
    EcrCredentials,
    PushFailed,
    RetryPolicy,
    StaticCredentials,
    build_image,
    load_image,
    push_image,
    push_images,
)
from shipyard.testing import FaultProxy, LocalRegistry, free_port, moto_server

pytestmark = [pytest.mark.docker, pytest.mark.registry]

FAST = RetryPolicy(attempts=8, timeout=90.0, wait_initial=0.1, wait_max=1.0, wait_jitter=0.2)


def _tiny_image(tiny_project: Any, janitor: Any, *, name: str = "tiny") -> BuiltImage:
    built = build_image(load_image(name, tiny_project(name=name)))
    janitor.tags += [built.id, *built.tags]
    return built


def _manifest_exists(registry: str, repository: str, digest: str, auth: tuple[str, str] | None = None) -> bool:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{digest}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    if auth is not None:
        import base64

        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status == 200


def test_push_to_a_registry_with_auth_succeeds_with_the_right_credentials(tiny_project: Any, janitor: Any) -> None:
    built = _tiny_image(tiny_project, janitor)
    with LocalRegistry(username="shipper", password="right-horse-battery") as registry:
        pushed = push_image(built, registry.address, credentials=StaticCredentials("shipper", "right-horse-battery"))
        janitor.tags += list(pushed.tags)
        assert pushed.attempts == 1
        assert _manifest_exists(registry.address, built.image, pushed.digest, ("shipper", "right-horse-battery"))


def test_wrong_credentials_fail_fast_without_retries(tiny_project: Any, janitor: Any) -> None:
    built = _tiny_image(tiny_project, janitor)
    with LocalRegistry(username="shipper", password="right-horse-battery") as registry:
        with pytest.raises(PushFailed) as caught:
            push_image(built, registry.address, credentials=StaticCredentials("shipper", "wrong-password-here"),
                       policy=FAST)  # fmt: skip
        janitor.tags += [f"{registry.address}/{tag}" for tag in built.tags]
    message = str(caught.value)
    assert caught.value.transient is False
    assert f"to registry {registry.address} failed after 1 attempt(s)" in message
    assert "not retried" in message
    assert "unauthorized" in message.lower() or "denied" in message.lower()
    assert "wrong-password-here" not in message
    assert "\n" not in message


@pytest.mark.slow
def test_push_through_a_faulty_proxy_succeeds_by_retrying(tiny_project: Any, janitor: Any, registry: Any) -> None:
    built = _tiny_image(tiny_project, janitor)
    with FaultProxy(registry.address, fail_first=3, fail_rate=0.05, seed=3) as proxy:
        pushed = push_image(built, proxy.address, policy=FAST)
        janitor.tags += list(pushed.tags)
    assert proxy.faults >= 2
    assert pushed.attempts > len(built.tags), "the injected faults must have cost at least one retry"
    assert pushed.reference == f"{proxy.address}/{built.image}@{pushed.digest}"
    assert _manifest_exists(registry.address, built.image, pushed.digest)


def test_push_to_a_registry_that_is_down_fails_within_the_bound_naming_it(tiny_project: Any, janitor: Any) -> None:
    built = _tiny_image(tiny_project, janitor)
    down = f"127.0.0.1:{free_port()}"
    policy = RetryPolicy(attempts=4, timeout=6.0, wait_initial=0.2, wait_max=1.0, wait_jitter=0.1)
    started = time.monotonic()
    with pytest.raises(PushFailed) as caught:
        push_image(built, down, policy=policy)
    elapsed = time.monotonic() - started
    janitor.tags += [f"{down}/{tag}" for tag in built.tags]
    assert caught.value.transient is True
    assert caught.value.registry == down
    assert f"to registry {down} failed after " in str(caught.value)
    assert "transient fault, gave up" in str(caught.value)
    assert elapsed < policy.timeout + 10, f"took {elapsed:.1f} s"


def test_several_images_push_concurrently_each_with_its_own_digest(
    tiny_project: Any, janitor: Any, registry: Any
) -> None:
    images = [_tiny_image(tiny_project, janitor, name=name) for name in ("one", "two")]
    pushed = push_images(images, registry.address, policy=FAST)
    for result in pushed:
        janitor.tags += list(result.tags)
    assert [result.built for result in pushed] == images
    assert pushed[0].digest != pushed[1].digest
    for result in pushed:
        assert _manifest_exists(registry.address, result.built.image, result.digest)


@pytest.mark.aws
def test_ecr_credentials_come_from_moto_and_are_cached_until_expiry(tiny_project: Any, janitor: Any) -> None:
    with moto_server() as moto:
        now = [1.0e9]  # 2001: moto's tokens expire in 2015
        credentials = EcrCredentials(lambda: moto.client("ecr"), clock=lambda: now[0])
        first = credentials.auth_config("127.0.0.1:5000")
        assert first["username"] == "AWS"
        assert first["password"] == "123456789012-auth-token"
        assert credentials.auth_config("127.0.0.1:5000") == first
        assert credentials.fetches == 1
        now[0] = 1.5e9  # 2017: expired, so the next push fetches a fresh token
        credentials.auth_config("127.0.0.1:5000")
        assert credentials.fetches == 2

        # The token is what a push sends: a registry that accepts exactly it takes the image.
        built = _tiny_image(tiny_project, janitor)
        with LocalRegistry(username="AWS", password="123456789012-auth-token") as registry:
            now[0] = 1.0e9
            pushed = push_image(built, registry.address, credentials=credentials)
            janitor.tags += list(pushed.tags)
    assert pushed.digest.startswith("sha256:")


def test_a_local_registry_stops_cleanly(tmp_path: Path) -> None:
    registry = LocalRegistry().start()
    assert registry.running
    registry.stop()
    assert not registry.running
    registry.stop()  # idempotent


def test_push_timeout_bounds_the_whole_push_even_when_the_registry_never_answers(
    tiny_project: Any, janitor: Any
) -> None:
    import socket
    import threading

    built = _tiny_image(tiny_project, janitor)
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def black_hole() -> None:  # accepts every connection and never says a word
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=black_hole, daemon=True)
    thread.start()
    silent = f"127.0.0.1:{server.getsockname()[1]}"
    policy = RetryPolicy(attempts=5, timeout=4.0, wait_initial=0.2, wait_max=1.0, wait_jitter=0.1)
    started = time.monotonic()
    try:
        with pytest.raises(PushFailed) as caught:
            push_image(built, silent, policy=policy)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    elapsed = time.monotonic() - started
    janitor.tags += [f"{silent}/{tag}" for tag in built.tags]
    assert f"to registry {silent} failed" in str(caught.value)
    # read_timeout (120 s) would let one silent attempt run on for minutes: --timeout caps the whole push.
    assert elapsed < policy.timeout + 6, f"took {elapsed:.1f} s for a {policy.timeout} s timeout"
