"""A real moto server on 127.0.0.1 for tests that talk to "AWS" over HTTP, as boto3 would in production."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from shipyard.testing._ports import free_port

__all__ = ["MotoServer", "moto_server"]


@dataclass(frozen=True)
class MotoServer:
    """A running moto server: ``env`` points boto3 (and subprocesses) at it with dummy credentials."""

    url: str
    region: str = "us-east-1"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, service: str) -> object:
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=self.region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
        )


@contextlib.contextmanager
def moto_server(region: str = "us-east-1") -> Iterator[MotoServer]:
    """Start ``moto.server.ThreadedMotoServer`` on a free loopback port; stop it (and forget its state) on exit."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoServer(url=f"http://127.0.0.1:{port}", region=region)
    finally:
        server.stop()
