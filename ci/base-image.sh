#!/usr/bin/env bash
# Make the Python base image (shipyard/python-base:bookworm) from Debian packages when the engine lacks it:
# mmdebstrap writes a bookworm root filesystem with python3 and python3-venv, `docker import` turns it into an
# image. No public registry is needed. Idempotent: with the image present, it does nothing.
# Projects pass their own base image through the BASE_IMAGE build argument instead.
set -euo pipefail
image="${SHIPYARD_BASE_IMAGE:-shipyard/python-base:bookworm}"

# The Debian mirror this machine's apt uses (deb822 .sources files first, then sources.list), never a hard-coded
# host: the first URI serving the main archive (not -security, not a third-party repository).
apt_etc="${SHIPYARD_APT_ETC:-/etc/apt}"
apt_mirror() {
  local file uri
  for file in "$apt_etc"/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    uri="$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$file" \
      | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1 || true)"
    if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
  done
  for file in "$apt_etc"/sources.list "$apt_etc"/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$file" \
      | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1 || true)"
    if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
  done
  return 1
}
if [ "${1:-}" = "--print-mirror" ]; then
  apt_mirror || { echo "ci/base-image.sh: no Debian mirror in /etc/apt/sources.list{,.d}" >&2; exit 1; }
  exit 0
fi

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "ci/base-image.sh: installing mmdebstrap" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="${SHIPYARD_BASE_TARBALL:-}"
if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
  mirror="${DEBIAN_MIRROR:-$(apt_mirror || true)}"
  if [ -z "$mirror" ]; then
    echo "ci/base-image.sh: no Debian mirror found in /etc/apt/sources.list.d/*.sources or sources.list;" \
      "set DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "ci/base-image.sh: building a bookworm root filesystem with mmdebstrap from $mirror" >&2
  tarball="$work/rootfs.tar"
  mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates --mode=root \
    bookworm "$tarball" "$mirror"
fi
echo "ci/base-image.sh: importing $tarball as $image" >&2
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  "$tarball" "$image" >/dev/null
