#!/usr/bin/env bash
# Install the Docker engine (Debian's docker.io) and start it without bridge networking, if it is not running.
# Idempotent: with an engine that answers, it does nothing. Containers and builds use host or no networking.
set -euo pipefail
log="${DOCKERD_LOG:-/tmp/dockerd.log}"

if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ci/docker-engine.sh: installing docker.io" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "ci/docker-engine.sh: starting dockerd (log: $log)" >&2
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >"$log" 2>&1 &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "ci/docker-engine.sh: dockerd did not answer within 30 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
