#!/usr/bin/env bash
# Install and start everything this repository's sessions, tests and deploys need, on a fresh Debian machine
# (root, Python 3.11, pip) or an already prepared one. Idempotent: a second run checks and does nothing.
#
#   bash ci/bootstrap.sh            # uv, then the Docker engine, the local registry, the base and proxy images
#   bash ci/bootstrap.sh uv         # only uv
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
what="${1:-all}"

bash "$here/install-uv.sh"
if [ "$what" = "all" ]; then
  for step in docker-engine.sh registry.sh base-image.sh proxy-image.sh; do
    if [ -f "$here/$step" ]; then bash "$here/$step"; fi
  done
fi
