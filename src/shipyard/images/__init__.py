"""Container images: build from artifacts with docker-py's classic builder, tag, and push by digest.

    config = load_image("hello-service")               # [tool.shipyard.images.hello-service]
    built = build_image(config, build_wheel=True)      # BuiltImage(image, tags, id, ...)
    pushed = push_image(built, "127.0.0.1:5000")       # PushedImage(reference="127.0.0.1:5000/...@sha256:...")

docker-py and boto3 are imported only when a build or push runs.
"""

from __future__ import annotations

from shipyard.images._auth import (
    Credentials,
    DockerConfigCredentials,
    EcrCredentials,
    EnvCredentials,
    StaticCredentials,
    default_credentials,
    is_ecr,
)
from shipyard.images._build import EventSink, build_image, labels_for, local_image
from shipyard.images._config import ImageConfig, load_image, load_images
from shipyard.images._errors import BuildFailed, PushFailed
from shipyard.images._push import RetryPolicy, is_transient_message, push_image, push_images
from shipyard.images._stream import BuildEvent, BuildStep
from shipyard.images._types import BuiltImage, PushedImage

__all__ = [
    "BuildEvent",
    "BuildFailed",
    "BuildStep",
    "BuiltImage",
    "Credentials",
    "DockerConfigCredentials",
    "EcrCredentials",
    "EnvCredentials",
    "EventSink",
    "ImageConfig",
    "PushFailed",
    "PushedImage",
    "RetryPolicy",
    "StaticCredentials",
    "build_image",
    "default_credentials",
    "is_ecr",
    "is_transient_message",
    "labels_for",
    "load_image",
    "load_images",
    "local_image",
    "push_image",
    "push_images",
]


def __dir__() -> list[str]:
    return __all__
