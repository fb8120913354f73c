"""hello-service: `/healthz` and `/version` over HTTP, the demo that Shipyard builds and deploys."""

from hello_service.app import create_app

__all__ = ["create_app"]
