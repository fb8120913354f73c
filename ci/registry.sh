#!/usr/bin/env bash
# Install and start a local image registry (Debian's docker-registry) on 127.0.0.1:5000, storage under
# /var/lib/shipyard-registry, no auth. Idempotent: with a registry answering on that address, it does nothing.
# `invoke image.push` pushes there by default; tests start their own registries on free ports.
set -euo pipefail
addr="${SHIPYARD_REGISTRY:-127.0.0.1:5000}"
root="/var/lib/shipyard-registry"
config="$root/config.yml"
log="${REGISTRY_LOG:-/tmp/shipyard-registry.log}"

answers() { python3 -c "import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen('http://$addr/v2/', timeout=1)
except urllib.error.HTTPError:
    pass
except OSError:
    sys.exit(1)"; }

if answers; then
  exit 0
fi
if ! command -v docker-registry >/dev/null 2>&1; then
  echo "ci/registry.sh: installing docker-registry" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
  # The package starts a service with htpasswd auth on :5000 where an init system runs; ours replaces it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry
  fi
fi
mkdir -p "$root/data"
cat >"$config" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $root/data
  delete:
    enabled: true
http:
  addr: $addr
YAML
echo "ci/registry.sh: starting docker-registry on $addr (log: $log)" >&2
nohup docker-registry serve "$config" >"$log" 2>&1 &
for _ in $(seq 1 40); do
  if answers; then
    exit 0
  fi
  sleep 0.25
done
echo "ci/registry.sh: docker-registry did not answer on $addr; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
