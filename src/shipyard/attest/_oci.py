"""Just enough of the OCI distribution API to store and find artifacts that refer to an image.

An artifact is an OCI image manifest (v1.1) whose ``subject`` is the image. A registry with the referrers API
(``GET /v2/<name>/referrers/<digest>``) indexes it by that subject, and says so with an ``OCI-Subject`` header on
the push; a registry without it (distribution 2.8, Debian's docker-registry) gets the artifact under the tag
``sha256-<hex>.att`` as well, cosign's tag schema. Registries on loopback addresses speak plain HTTP (as docker
allows them to); all others HTTPS. Basic auth and the bearer-token challenge are both answered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from shipyard._errors import ImageError
from shipyard._secrets import redact

__all__ = ["EMPTY_CONFIG", "OCI_MANIFEST", "Registry", "RegistryError", "resolve", "split_reference", "tag_for"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_JSON = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = {"mediaType": EMPTY_JSON, "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}
MANIFEST_TYPES = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
_TIMEOUT = 30
#: What a registry answer may hold: the OCI distribution spec's manifest limit, and a bound for attestation blobs
#: (an SBOM of thousands of packages is a few MiB). Anything larger is refused before it is read whole.
MAX_MANIFEST = 4 * 1024 * 1024
MAX_BLOB = 32 * 1024 * 1024
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class RegistryError(ImageError):
    """The registry refused a request or could not be reached; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _transient(exc: Exception) -> bool:
    return isinstance(exc, RegistryError) and (exc.status == 0 or exc.status >= 500 or exc.status == 429)


def split_reference(reference: str) -> tuple[str, str, str]:
    """``registry/name@sha256:...`` -> (registry, name, digest); a one-line error for anything else."""
    rest, at, digest = reference.partition("@")
    registry, slash, name = rest.partition("/")
    if not at or not _DIGEST.match(digest) or not slash or not name or not _is_host(registry):
        raise ImageError(f"{reference!r} is not an image reference by digest (registry/repository@sha256:<64 hex>)")
    if ":" in name.rsplit("/", 1)[-1]:  # repo:tag@sha256:... -> the digest decides
        name = name.rsplit(":", 1)[0]
    return registry, name, digest


def _is_host(registry: str) -> bool:
    """Docker's rule: the first path part is a registry host when it has a dot or a port, or is localhost."""
    return "." in registry or ":" in registry or registry == "localhost"


def resolve(reference: str, auth: dict[str, str] | None = None) -> str:
    """``registry/repo:tag`` -> ``registry/repo@sha256:...`` (asks the registry); a digest reference stays."""
    if "@" in reference:
        return reference
    registry, slash, rest = reference.partition("/")
    name, _, tag = rest.rpartition(":") if ":" in rest.rsplit("/", 1)[-1] else (rest, "", "latest")
    if not slash or not name or not _is_host(registry):
        raise ImageError(f"{reference!r} is not an image reference (registry/repository:tag or @sha256:...)")
    found = Registry(registry, name, dict(auth or {}), timeout=10, retry_timeout=20).manifest_descriptor(tag)
    if found is None:
        raise ImageError(f"registry {registry} has no {name}:{tag}")
    return f"{registry}/{name}@{found['digest']}"


def tag_for(digest: str, suffix: str = "att") -> str:
    """The fallback tag of an artifact about ``digest``: ``sha256-<hex>.<suffix>``."""
    return digest.replace(":", "-") + f".{suffix}"


@dataclass
class Registry:
    """One repository on one registry, with the auth it needs (``auth`` is docker's ``auth_config`` shape)."""

    host: str
    name: str
    auth: dict[str, str] = field(default_factory=dict)
    attempts: int = 5
    retry_timeout: float = 60.0
    #: Seconds one request may take, reading its answer included (a registry that hangs or drips is cut off).
    timeout: float = _TIMEOUT
    _token: str | None = None

    @property
    def base(self) -> str:
        host = self.host.split(":")[0] if not self.host.startswith("[") else self.host.split("]")[0] + "]"
        loopback = host in {"localhost", "[::1]"} or host.startswith("127.")
        return f"{'http' if loopback else 'https'}://{self.host}/v2/{self.name}"

    # -- blobs and manifests

    def push_blob(self, data: bytes) -> dict[str, Any]:
        """Upload ``data`` (monolithic) unless the registry has it; its descriptor without a media type."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self._request("HEAD", f"/blobs/{digest}", ok=(200, 404))[0] != 200:
            _, headers, _ = self._request("POST", "/blobs/uploads/", ok=(202,))
            location = headers.get("Location", "")
            url = location if location.startswith("http") else urllib.parse.urljoin(self.base, location)
            sep = "&" if "?" in url else "?"
            self._request("PUT", f"{url}{sep}digest={digest}", data=data, ok=(201,),
                          headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        return {"digest": digest, "size": len(data)}

    def blob(self, digest: str, *, limit: int = MAX_BLOB) -> bytes:
        data = self._request("GET", f"/blobs/{digest}", ok=(200,), limit=limit)[2]
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RegistryError(f"registry {self.host}: blob {digest} does not match its digest")
        return data

    def manifest_descriptor(self, reference: str) -> dict[str, Any] | None:
        """``{mediaType, digest, size}`` of a manifest, or ``None`` when the registry does not have it."""
        status, headers, _ = self._request(
            "HEAD", f"/manifests/{reference}", ok=(200, 404), headers={"Accept": MANIFEST_TYPES}
        )
        if status == 404:
            return None
        media_type = headers.get("Content-Type", "").split(";")[0]
        digest = headers.get("Docker-Content-Digest", reference)
        return {"mediaType": media_type, "digest": digest, "size": int(headers.get("Content-Length", "0"))}

    def manifest(self, reference: str) -> tuple[dict[str, Any], str] | None:
        """A manifest (parsed) and its digest, or ``None`` when there is none under ``reference``."""
        status, _, data = self._request(
            "GET", f"/manifests/{reference}", ok=(200, 404), headers={"Accept": MANIFEST_TYPES}, limit=MAX_MANIFEST
        )
        if status == 404:
            return None
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"registry {self.host}: manifest {reference} does not match its digest")
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise RegistryError(f"registry {self.host}: manifest {reference} is not JSON") from exc
        if not isinstance(parsed, dict):
            raise RegistryError(f"registry {self.host}: manifest {reference} is not a JSON object")
        return parsed, digest

    def put_manifest(self, manifest: dict[str, Any], reference: str | None = None) -> tuple[str, bool]:
        """Store ``manifest`` (by digest, or under the tag ``reference``); (digest, registry indexed its subject)."""
        data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        _, headers, _ = self._request(
            "PUT", f"/manifests/{reference or digest}", data=data, ok=(201,),
            headers={"Content-Type": manifest["mediaType"]},
        )  # fmt: skip
        return digest, bool(headers.get("OCI-Subject"))

    def referrers(self, digest: str, artifact_type: str) -> list[dict[str, Any]] | None:
        """The referrers API's descriptors of ``artifact_type`` for ``digest``; ``None`` when it has no such API."""
        query = urllib.parse.urlencode({"artifactType": artifact_type})
        status, headers, data = self._request(
            "GET", f"/referrers/{digest}?{query}", ok=(200, 404, 400, 405), limit=MAX_MANIFEST
        )
        if status != 200 or not headers.get("Content-Type", "").startswith(OCI_INDEX):
            return None
        try:
            index = json.loads(data)
        except (ValueError, RecursionError):
            return None
        listed = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(listed, list):
            return None
        return [m for m in listed if isinstance(m, dict) and m.get("artifactType") == artifact_type]

    # -- HTTP

    def _request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        ok: tuple[int, ...],
        headers: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, retried on transient faults (no answer, 5xx, 429) like the image push itself."""
        import stamina

        for attempt in stamina.retry_context(
            on=_transient, attempts=self.attempts, timeout=self.retry_timeout, wait_initial=0.1, wait_max=2.0
        ):
            with attempt:
                return self._request_once(method, path, data=data, ok=ok, headers=headers, limit=limit)
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    def _request_once(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None,
        ok: tuple[int, ...],
        headers: dict[str, str] | None,
        limit: int | None = None,
        retried: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        import http.client

        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
        if authorization := self._authorization():
            request.add_header("Authorization", authorization)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status, got = response.status, dict(response.headers)
                body = self._read(response, method, path, limit)
        except urllib.error.HTTPError as exc:
            with exc:  # an HTTPError holds the response open until closed
                status, got, body = exc.code, dict(exc.headers), self._read(exc, method, path, 64 * 1024)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryError(f"registry {self.host} cannot be reached ({exc}); is it running?") from exc
        if status == 401 and not retried and self._answer_challenge(got.get("WWW-Authenticate", "")):
            return self._request_once(method, path, data=data, ok=ok, headers=headers, limit=limit, retried=True)
        if status not in ok:
            detail = redact(" ".join(body.decode(errors="replace").split()))[:200]
            where = path.rsplit(self.name, maxsplit=1)[-1][:80]
            raise RegistryError(
                f"registry {self.host}: {method} {self.name}{where} answered {status}: {detail}", status=status
            )
        return status, got, body

    def _read(self, response: Any, method: str, path: str, limit: int | None) -> bytes:
        """The answer's body, at most ``limit`` bytes, within ``timeout`` seconds (the socket's is per read)."""
        import time

        where = f"{method} {self.name}{path.rsplit(self.name, maxsplit=1)[-1][:80]}"
        declared = response.headers.get("Content-Length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            raise RegistryError(f"registry {self.host}: {where} is too large ({declared} bytes > {limit})", status=413)
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise RegistryError(f"registry {self.host}: {where} is too large (> {limit} bytes)", status=413)
            if time.monotonic() > deadline:
                raise RegistryError(f"registry {self.host}: {where} took more than {self.timeout:g} s to answer")
        return b"".join(chunks)

    def _authorization(self) -> str | None:
        if self._token:
            return f"Bearer {self._token}"
        if self.auth.get("username") and self.auth.get("password"):
            pair = f"{self.auth['username']}:{self.auth['password']}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return None

    def _answer_challenge(self, challenge: str) -> bool:
        """Fetch a bearer token when the registry asks for one (``WWW-Authenticate: Bearer realm=...``)."""
        if not challenge.lower().startswith("bearer "):
            return False
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if "realm" not in params:
            return False
        query = {"scope": f"repository:{self.name}:pull,push"}
        if "service" in params:
            query["service"] = params["service"]
        request = urllib.request.Request(f"{params['realm']}?{urllib.parse.urlencode(query)}")  # noqa: S310
        if self.auth.get("username") and self.auth.get("password"):
            pair = f"{self.auth['username']}:{self.auth['password']}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                request, timeout=_TIMEOUT
            ) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"registry {self.host}: cannot get a token from {params['realm']} ({exc})") from exc
        token = answer.get("token") or answer.get("access_token")
        if not token:
            return False
        from shipyard._secrets import register_secret

        register_secret(str(token))
        self._token = str(token)
        return True
