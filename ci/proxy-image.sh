#!/usr/bin/env bash
# Make the deploy proxy image (shipyard/proxy:haproxy-bookworm) from Debian's haproxy package when the engine lacks
# it: mmdebstrap writes a minimal bookworm root filesystem with haproxy and socat (Shipyard talks to HAProxy's
# runtime API over a unix socket through `docker exec ... socat`), `docker import` turns it into an image. No public
# registry is needed. The Debian mirror is taken from this machine's apt sources. Idempotent: with the image
# present, it does nothing. Environments can name another image with `proxy_image` (it needs haproxy and socat).
set -euo pipefail
image="${SHIPYARD_PROXY_IMAGE:-shipyard/proxy:haproxy-bookworm}"

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "ci/proxy-image.sh: installing mmdebstrap" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

# The first Debian mirror of this machine's apt sources that serves bookworm (deb822 .sources, then sources.list).
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    mirror="$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit} /^$/ {u=""}' "$f")"
    [ -n "$mirror" ] && break
  done
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror="$(awk '$1 == "deb" && $0 ~ / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
    /etc/apt/sources.list)"
fi
if [ -z "$mirror" ]; then
  echo "ci/proxy-image.sh: no bookworm mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; set DEBIAN_MIRROR" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "ci/proxy-image.sh: building a bookworm root filesystem with haproxy from $mirror" >&2
mmdebstrap --quiet --variant=essential --include=haproxy,socat --mode=root \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm "$work/rootfs.tar" "$mirror"
echo "ci/proxy-image.sh: importing it as $image" >&2
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]' \
  "$work/rootfs.tar" "$image" >/dev/null
