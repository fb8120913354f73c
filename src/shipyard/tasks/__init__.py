"""Shipyard's invoke collection. A project's tasks.py uses it with ``from shipyard.tasks import ns``.

Each capability adds its tasks from a module of its own; task bodies import their heavy dependencies lazily so
that ``invoke --list`` stays fast and never imports docker-py or boto3.
"""

from __future__ import annotations

from invoke.collection import Collection

from shipyard._cli import quiet_broken_pipe
from shipyard.tasks import _check, _ci, _deploy, _images
from shipyard.tasks import _init as _init_task
from shipyard.tasks._base import shipyard_task

__all__ = ["ns", "shipyard_task"]

quiet_broken_pipe()  # `invoke --list | head -1` ends silently, not in a traceback
ns = Collection()
for _task in _deploy.TASKS:
    ns.add_task(_task)
ns.add_task(_check.check)
ns.add_collection(_images.collection())
ns.add_collection(_ci.collection())
ns.add_task(_init_task.init)
