#!/usr/bin/env bash
# Full TLS handshakes: server CPU per handshake, Sluice (protocol mqtts, 1 worker) against HAProxy
# (`bind ... ssl crt`, 1 thread), each alone on CPU 0, with 6 `openssl s_time -new` clients on CPU 1.
# A stopgap until the bench harness (bench/run.ts) has TLS targets: the clients, not the servers, set
# the rate here, so compare the CPU per handshake, not the handshakes per second. Run from the project
# root after `npm ci`; HAProxy from Debian. Ports 28883-28895 on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
seconds=${SECONDS_PER_RUN:-4}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

# A CA and a P-256 server certificate for 127.0.0.1.
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -new "${ec[@]}" -keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=bench 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$dir/ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 -extfile "$dir/ext" -out "$dir/server.pem" 2>/dev/null
cat "$dir/server.pem" "$dir/server.key" > "$dir/haproxy.pem"

cat > "$dir/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:28883 ssl crt $dir/haproxy.pem
  default_backend be
backend be
  server b1 127.0.0.1:28884
CFG
cat > "$dir/sluice.yaml" <<CFG
workers: 1
listeners:
  - { bind: 127.0.0.1:28893, protocol: mqtts, tls: { cert: $dir/server.pem, key: $dir/server.key } }
brokers:
  - { name: a, address: 127.0.0.1:28884 }
log: { level: error }
CFG

# A backend that takes a connection and closes it at its first bytes (s_time sends "GET /").
node -e 'require("net").createServer((s) => { s.on("data", () => s.end()); s.on("error", () => {}); }).listen(28884, "127.0.0.1")' & pids+=($!)
taskset -c 0 haproxy -f "$dir/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!); haproxy_pid=$!
taskset -c 0 node src/cli.ts --config "$dir/sluice.yaml" >/dev/null 2>&1 & pids+=($!); sluice_pid=$!
sleep 3
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "target   handshakes  server-CPU-ms  CPU-us/handshake"
for round in 1 2; do
  for target in haproxy:28883:$haproxy_pid sluice:28893:$sluice_pid; do
    IFS=: read -r name port pid <<< "$target"
    before=$(cpu "$pid")
    clients=()
    for k in 1 2 3 4 5 6; do
      taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time "$seconds" -CAfile "$dir/ca.pem" 2>/dev/null \
        | awk '/connections in .* real seconds/ {print $1}' > "$dir/st.$k" & clients+=($!)
    done
    wait "${clients[@]}"
    after=$(cpu "$pid")
    total=$(cat "$dir"/st.* | awk '{s += $1} END {print s + 0}')
    ms=$(( (after - before) * 1000 / ticks ))
    printf '%-8s %10d %14d %17s\n' "$name" "$total" "$ms" "$(awk -v ms="$ms" -v n="$total" 'BEGIN { printf "%.0f", n ? ms * 1000 / n : 0 }')"
  done
done
