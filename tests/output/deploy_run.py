"""``invoke deploy`` for the terminal test: the repository's ``local`` environment, under a unique name, on a
free port, pushing to a test registry. Run as ``python deploy_run.py NAME PORT REGISTRY`` from the repo root."""

from __future__ import annotations

import dataclasses
import sys

from shipyard import _logging
from shipyard._cli import Exit, handle_errors
from shipyard.deploy import get_environment
from shipyard.deploy._chain import deploy_chain
from shipyard.tasks._deploy import _finish


def main(name: str, port: str, registry: str) -> int:
    _logging.configure()  # what the deploy task does first
    local = get_environment("local")
    env = dataclasses.replace(local, name=name, registry=registry, settings={**local.settings, "port": int(port)})
    try:
        with handle_errors("invoke"):
            _finish(deploy_chain(env), as_json=False)
    except Exit as exc:
        return int(exc.code or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
