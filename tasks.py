"""This repository's invoke tasks: `invoke --list`. They are Shipyard's own tasks, which any project can use.

Importing this file must stay fast: task bodies load docker-py and boto3 only when they run.
"""

from shipyard.tasks import ns

__all__ = ["ns"]
