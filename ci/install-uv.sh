#!/usr/bin/env bash
# Install the pinned uv with pip, unless that version is already on PATH. Idempotent.
set -euo pipefail
UV_VERSION="0.13.9"
if command -v uv >/dev/null 2>&1 && [ "$(uv --version 2>/dev/null | cut -d' ' -f2)" = "$UV_VERSION" ]; then
  exit 0
fi
echo "ci/install-uv.sh: installing uv $UV_VERSION" >&2
python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
hash -r
if ! command -v uv >/dev/null 2>&1; then
  echo "ci/install-uv.sh: uv installed but not on PATH; add $(python3 -m site --user-base)/bin to PATH" >&2
  exit 1
fi
