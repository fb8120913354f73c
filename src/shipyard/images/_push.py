"""Pushing built images to a registry: explicit auth, every stream line parsed, transient faults retried.

A push succeeds only when its stream ends with a manifest digest and carries no error line. Transient faults
(connection errors, timeouts, HTTP 5xx and 429) are retried by stamina with exponential backoff and jitter,
bounded in attempts and in time; "denied"/"unauthorized" never are. The result's identity is the digest
reference ``registry/repo@sha256:...``, which is what later stages deploy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard._errors import ImageError
from shipyard._logging import get_logger
from shipyard._secrets import protect, redact
from shipyard.images._auth import Credentials, default_credentials
from shipyard.images._client import api_client
from shipyard.images._errors import PushFailed
from shipyard.images._stream import PushStream
from shipyard.images._types import BuiltImage, PushedImage

if TYPE_CHECKING:
    import docker

__all__ = ["RetryPolicy", "attach_attestations", "is_transient_message", "push_image", "push_images"]


def _log() -> Any:
    # Looked up per call, not at import: the CLI configures structlog after importing this module.
    return get_logger("images")


_PERMANENT = re.compile(r"denied|unauthori[sz]ed|authentication required|no basic auth|forbidden", re.IGNORECASE)
_TRANSIENT = re.compile(
    r"\b(5\d\d|429)\b|too many requests|service unavailable|bad gateway|gateway time-?out|internal server error"
    r"|connection refused|connection reset|broken pipe|\bEOF\b|timeout|timed out|no route to host"
    r"|server misbehaving|use of closed network connection",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try a push: attempts and total seconds bound it; backoff grows from ``wait_initial``."""

    attempts: int = 5
    timeout: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 1.0
    #: The longest silence allowed on the push stream before the attempt counts as timed out.
    read_timeout: float = 120.0


def is_transient_message(message: str) -> bool:
    """True when a registry error reads as a passing fault (5xx, 429, a dropped or refused connection)."""
    return not _PERMANENT.search(message) and bool(_TRANSIENT.search(message))


def push_image(
    image: BuiltImage,
    registry: str,
    *,
    credentials: Credentials | None = None,
    client: docker.APIClient | None = None,
    policy: RetryPolicy = RetryPolicy(),
) -> PushedImage:
    """Push every tag of ``image`` to ``registry`` (``host[:port]``); return its digest identity."""
    registry = registry.rstrip("/")
    repository = f"{registry}/{image.image}"
    _check_repository(repository, registry)
    credentials = credentials or default_credentials(registry)
    deadline = time.monotonic() + policy.timeout  # --timeout bounds the whole push, not only the retries
    api = client or api_client(timeout=_read_timeout(policy))
    try:
        digest: str | None = None
        attempts = 0
        for tag in image.tag_names:
            api.tag(image.id, repository, tag=tag)
            pushed, used = _push_tag(
                api, repository, tag, registry=registry, credentials=credentials, policy=policy, deadline=deadline
            )
            attempts += used
            if digest is not None and pushed != digest:
                raise ImageError(f"push of {repository}: tag {tag} got digest {pushed}, the others {digest}")
            digest = pushed
    finally:
        if client is None:
            api.close()
    if digest is None:
        raise ImageError(f"image {image.name} has no tags to push; build it first")
    protect(repository, f"{repository}@{digest}", *(f"{repository}:{tag}" for tag in image.tag_names))
    attested = attach_attestations(image, registry, digest, credentials.auth_config(registry))
    _log().info("image.push.done", image=image.name, reference=f"{repository}@{digest}", attempts=attempts)
    return PushedImage(
        built=image,
        registry=registry,
        repository=repository,
        digest=digest,
        tags=tuple(f"{repository}:{tag}" for tag in image.tag_names),
        attempts=attempts,
        attested=attested,
    )


def _check_repository(repository: str, registry: str) -> None:
    """Before any work: a registry docker would reject is one line naming it, not a failure mid-push."""
    from shipyard._refs import parse_reference, registry_problem

    if problem := registry_problem(registry):
        raise ImageError(f"registry {registry!r} {problem}")
    if parse_reference(repository)[0] is None:
        raise ImageError(f"{repository!r} {parse_reference(repository)[1]}")


def attach_attestations(image: BuiltImage, registry: str, digest: str, auth: dict[str, str]) -> Any:
    """Sign the build's SBOM and provenance and store them beside the pushed image (``shipyard.attest``)."""
    if image.attestations is None:
        return None  # not built by ``build_image`` (no build record): nothing to attest
    from shipyard.attest import attach

    return attach(image.attestations, registry=registry, name=image.image, digest=digest, auth=auth)


def push_images(
    images: Sequence[BuiltImage],
    registry: str,
    *,
    credentials: Credentials | None = None,
    client_factory: Callable[[], docker.APIClient] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    max_workers: int = 4,
) -> list[PushedImage]:
    """Push several images at once (one client per push); results in the order given.

    Every push runs to its end; then the first failure is raised, saying how many failed.
    """

    def one(image: BuiltImage) -> PushedImage:
        client = client_factory() if client_factory else api_client(timeout=_read_timeout(policy))
        try:
            return push_image(image, registry, credentials=credentials, client=client, policy=policy)
        finally:
            client.close()

    if not images:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(images))), thread_name_prefix="push") as pool:
        futures = [pool.submit(one, image) for image in images]
    failures = [future.exception() for future in futures if future.exception() is not None]
    if failures:
        first = failures[0]
        if len(images) == 1 or not isinstance(first, ImageError):
            raise first  # type: ignore[misc]
        raise ImageError(f"{len(failures)} of {len(images)} pushes failed; first: {first}") from first
    return [future.result() for future in futures]


def _read_timeout(policy: RetryPolicy) -> float:
    # A silent registry must not hold one attempt past the time the whole push may take.
    return max(1.0, min(policy.read_timeout, policy.timeout))


def _push_tag(
    api: docker.APIClient,
    repository: str,
    tag: str,
    *,
    registry: str,
    credentials: Credentials,
    policy: RetryPolicy,
    deadline: float,
) -> tuple[str, int]:
    import stamina

    started = time.monotonic()
    attempts = 0
    try:
        for attempt in stamina.retry_context(
            on=_should_retry,
            attempts=policy.attempts,
            timeout=max(deadline - time.monotonic(), 0.001),
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                attempts += 1
                return _push_once(api, repository, tag, registry, credentials, deadline, policy.timeout), attempts
    except PushFailed as exc:
        elapsed = time.monotonic() - started
        kind = "transient fault, gave up" if exc.transient else "not retried"
        raise PushFailed(
            f"push of {repository}:{tag} to registry {registry} failed after {attempts} attempt(s) in "
            f"{elapsed:.1f}s ({kind}): {exc}",
            registry=registry,
            transient=exc.transient,
            log_tail=exc.log_tail,
        ) from exc
    raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover


def _should_retry(exc: Exception) -> bool:
    if isinstance(exc, PushFailed) and exc.transient:
        _log().info("image.push.retry", registry=exc.registry, reason=str(exc))
        return True
    return False


class _Throttle:
    """Push progress: to the live view at most 5 times a second, to the log every 10 s (a long push is not stuck)."""

    def __init__(self) -> None:
        self.shown = self.logged = time.monotonic()

    def update(self, repository: str, stream: PushStream) -> None:
        from shipyard import _output

        now = time.monotonic()
        if now - self.shown >= 0.2:
            self.shown = now
            _output.progress("image.push.progress", image=repository, **stream.progress)
        if now - self.logged >= 10:
            self.logged = now
            _log().info("image.push.progress", image=repository, **stream.progress)


def _push_once(  # noqa: PLR0917 - the push's parts, passed explicitly
    api: docker.APIClient,
    repository: str,
    tag: str,
    registry: str,
    credentials: Credentials,
    deadline: float,
    timeout: float,
) -> str:
    import docker.errors
    import requests
    import urllib3.exceptions

    stream = PushStream()
    shown = _Throttle()
    try:
        for line in api.push(
            repository, tag=tag, stream=True, decode=True, auth_config=credentials.auth_config(registry)
        ):
            stream.feed(line)
            if time.monotonic() > deadline:
                raise PushFailed(
                    f"still pushing after the {timeout:g} s timeout; raise --timeout for a slow registry",
                    registry=registry,
                    transient=False,
                    log_tail=stream.tail,
                )
            shown.update(repository, stream)
    except docker.errors.APIError as exc:
        status = exc.status_code or 0
        message = redact(" ".join(str(exc.explanation or exc).split()))
        raise PushFailed(message, registry=registry, transient=status >= 500 or status == 429) from exc
    except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError, OSError) as exc:
        # A silent stream ends in urllib3's ReadTimeoutError, which requests does not wrap while streaming.
        raise PushFailed(f"{type(exc).__name__}: {exc}", registry=registry, transient=True) from exc
    if stream.error is not None:
        message = redact(" ".join(stream.error.split()))
        raise PushFailed(message, registry=registry, transient=is_transient_message(message), log_tail=stream.tail)
    if stream.digest is None:
        raise PushFailed(
            "the push stream ended without a digest", registry=registry, transient=True, log_tail=stream.tail
        )
    return stream.digest
