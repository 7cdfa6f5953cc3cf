#!/usr/bin/env bash
# Installs Sluice as a systemd service: the project in PREFIX (/opt/sluice) with its runtime packages and
# addon, a system user "sluice", /etc/sluice with a starting config and an admin token (kept if there),
# and the unit (scripts/sluice.service). Then: edit /etc/sluice/sluice.yaml, `systemctl enable --now sluice`.
#
#   sudo scripts/install-service.sh [--prefix DIR] [--destdir DIR] [--offline] [--no-user] [--no-systemctl]
#
# --destdir installs under another root (a package build, or a test); --offline copies this checkout's
# node_modules (addon built) instead of `npm ci --omit=dev`; --no-user and --no-systemctl skip the steps
# that change the running system.
set -euo pipefail

prefix=/opt/sluice
destdir=
make_user=1
run_systemctl=1
offline=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --no-user) make_user=0; shift ;;
    --offline) offline=1; shift ;;
    --no-systemctl) run_systemctl=0; shift ;;
    *) echo "install-service.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
root=${destdir%/}
if [ "$make_user" = 1 ] || [ "$run_systemctl" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "install-service.sh: run as root (or with --no-user --no-systemctl)" >&2; exit 1; }
fi

# The project, with its runtime packages only (Node 24 among them) and the addon built for it.
install -d "$root$prefix"
for item in package.json package-lock.json binding.gyp README.md src workers native scripts; do
  cp -a "$src/$item" "$root$prefix/"
done
if [ "$offline" = 1 ]; then
  rm -rf "$root$prefix/node_modules" "$root$prefix/build"
  cp -a "$src/node_modules" "$root$prefix/"
  if [ -d "$src/build" ]; then cp -a "$src/build" "$root$prefix/"; fi
else
  (cd "$root$prefix" && npm ci --omit=dev --no-audit --no-fund >/dev/null)
fi
node="$root$prefix/node_modules/node/bin/node"
[ -x "$node" ] || { echo "install-service.sh: $node is missing (npm ci did not install Node 24)" >&2; exit 1; }

if [ "$make_user" = 1 ] && ! id sluice >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sluice
fi
group=root
[ "$make_user" = 1 ] && group=sluice

# Config and secrets: readable by the service's group only; an existing file is never replaced.
etc="$root/etc/sluice"
install -d -m 0750 "$etc"
[ "$make_user" = 1 ] && chgrp sluice "$etc"
if [ ! -e "$etc/admin.token" ]; then
  (umask 0137 && "$node" -e "process.stdout.write(require('crypto').randomBytes(32).toString('hex') + '\n')" > "$etc/admin.token")
  chgrp "$group" "$etc/admin.token"
fi
if [ ! -e "$etc/sluice.yaml" ]; then
  cat > "$etc/sluice.yaml" <<'YAML'
# Sluice: see /opt/sluice/README.md ("Configuration reference"). Edit the brokers, then
# `systemctl reload sluice` applies most changes while clients stay connected.
workers: auto
listeners:
  - { bind: ":1883" }
brokers:
  - { name: broker-1, address: "127.0.0.1:1884" }
balance: { strategy: sticky }
admin:
  bind: 127.0.0.1:9100
  token_file: /etc/sluice/admin.token
shutdown: { drain_timeout: 30s }
log: { level: info }
YAML
  chmod 0640 "$etc/sluice.yaml"
  chgrp "$group" "$etc/sluice.yaml"
fi

unit="$root/etc/systemd/system/sluice.service"
install -d "$(dirname "$unit")"
sed "s|@PREFIX@|$prefix|g" "$src/scripts/sluice.service" > "$unit"
chmod 0644 "$unit"

if [ "$run_systemctl" = 1 ]; then
  systemctl daemon-reload
  echo "installed: edit /etc/sluice/sluice.yaml, then: systemctl enable --now sluice"
else
  echo "installed under ${root:-/}: $prefix, /etc/sluice, /etc/systemd/system/sluice.service"
fi
