#!/usr/bin/env bash
# Finds or installs HAProxy (Debian package) for the benchmark; MQTT-aware mode needs HAProxy >= 2.4.
set -euo pipefail
export PATH="$PATH:/usr/sbin"
if ! command -v haproxy >/dev/null; then
  echo "setup-haproxy: installing haproxy from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends haproxy >/dev/null
fi
version=$(haproxy -v | sed -n 's/^HA-\{0,1\}Proxy version \([0-9]*\.[0-9]*\).*/\1/p' | head -1)
major=${version%%.*}; minor=${version#*.}
if [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 4 ]; }; then
  echo "setup-haproxy: HAProxy $version is older than 2.4 (no MQTT support)" >&2
  exit 1
fi
command -v haproxy
