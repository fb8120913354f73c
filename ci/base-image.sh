#!/usr/bin/env bash
# Make the Python base image (shipyard/python-base:bookworm) from Debian packages when the engine lacks it:
# mmdebstrap writes a bookworm root filesystem with python3 and python3-venv, `docker import` turns it into an
# image. No public registry is needed. Idempotent: with the image present, it does nothing.
# Projects pass their own base image through the BASE_IMAGE build argument instead.
set -euo pipefail
image="${SHIPYARD_BASE_IMAGE:-shipyard/python-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

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
  echo "ci/base-image.sh: building a bookworm root filesystem with mmdebstrap" >&2
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
