"""Testing helpers shipped with Shipyard, for its own tests and for projects that use it.

Each capability adds its helpers in a private module here and re-exports them below.
"""

from __future__ import annotations

from shipyard.testing._ports import free_port

__all__ = ["free_port"]
