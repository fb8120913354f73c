"""Testing helpers shipped with Shipyard, for its own tests and for projects that use it.

Each capability adds its helpers in a private module here and re-exports them below.
"""

from __future__ import annotations

from shipyard.testing._attest import signing_key_pair
from shipyard.testing._aws import MotoServer, moto_server
from shipyard.testing._deploy import ProbeLoop, remove_environment
from shipyard.testing._docker import FaultProxy, LocalRegistry
from shipyard.testing._parts import require, require_tool
from shipyard.testing._pipeline import RecordingReporter, StageEvent, make_check_project, make_flat_project
from shipyard.testing._ports import free_port
from shipyard.testing._projects import Project, make_project
from shipyard.testing._runs import PipelineRun, PipelineRunner
from shipyard.testing._sigstore import SigstoreInstance, SigstoreServices

__all__ = [
    "FaultProxy",
    "LocalRegistry",
    "MotoServer",
    "PipelineRun",
    "PipelineRunner",
    "ProbeLoop",
    "Project",
    "RecordingReporter",
    "SigstoreInstance",
    "SigstoreServices",
    "StageEvent",
    "free_port",
    "make_check_project",
    "make_flat_project",
    "make_project",
    "moto_server",
    "remove_environment",
    "require",
    "require_tool",
    "signing_key_pair",
]
