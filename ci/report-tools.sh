#!/usr/bin/env bash
# Install what the output and report tests need: Debian's chromium (headless, opens `shipyard report`'s HTML
# with the network blocked) and tmux (a real terminal for the live view). Idempotent: with both present, it
# does nothing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "ci/report-tools.sh: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-dejavu-core >/dev/null
