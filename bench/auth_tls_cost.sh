#!/usr/bin/env bash
# bench/auth_tls_cost.sh - Hato's instructions per connection for a client that opens a
# connection per message with STARTTLS and AUTH PLAIN: full handshake or resumed (a session
# ticket offered back), login cache off or on. Counted by valgrind's callgrind over every
# thread of the daemon (the crypt(3) checks run on the worker pool), so a busy machine does
# not move the figures.
#
#   bench/auth_tls_cost.sh [--connections N] [--hato BINARY] [--keep]
#
# For each cell (full/resumed x cache off/on, and full with the cache and an ECDSA P-256
# certificate instead of RSA 2048): a fresh Hato under callgrind (listener with tls: starttls,
# a user added with `hato user add`: yescrypt as shipped; `auth.cache_ttl: 0` or 1h;
# smarthost = smtp-sink, plain); 5 warm-up messages, counters zeroed, then N
# (default 30) messages of 4,096 bytes, one connection each, one at a time
# (build/bench/smtpload_tls -s 1, with -R in the resumed cells), until the sink has them all;
# counters dumped. Prints instructions per connection per cell and the differences: what a
# resumed handshake saves and what a cache hit saves. Under callgrind one yescrypt check takes
# about a second of wall time: keep N small. Needs valgrind, postfix (smtp-sink), openssl,
# `ninja -C build hato smtpload_tls`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HATO="$HERE/../build/hato"
LOAD="$HERE/../build/bench/smtpload_tls"
N=30
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) N=$2; shift 2 ;;
    --hato) HATO=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
. "$HERE/callgrind_lib.sh"
require_tools auth_tls_cost.sh "" valgrind callgrind_control callgrind_annotate smtp-sink openssl "$LOAD"
HATO=$(realpath "$HATO")
make_workdir auth-tls-cost
self_signed "$W/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -keyout "$W/ec.key" -out "$W/ec.crt" >/dev/null 2>&1
PASSWORD=bench-password-1

run() {  # run NAME RESUME(0|1) CACHE_TTL [CERT]: one cell; leaves $W/NAME/cg.out.1
  local name=$1 resume=$2 ttl=$3 cert=${4:-tls} d="$W/$1" sink
  mkdir -p "$d/data"
  sink=$(free_port)
  smtp-sink -u nobody -c "127.0.0.1:$sink" 1000 >"$d/sink.log" 2>&1 &
  PIDS+=($!)
  cat >"$d/hato.yaml" <<EOF2
hostname: bench.example.test
data_dir: "$d/data"
users_file: "$d/users"
auth: {cache_ttl: $ttl}
tls: {certificate: "$W/$cert.crt", key: "$W/$cert.key"}
listeners:
  - {name: bench, address: "127.0.0.1:0", role: submission, tls: starttls}
domains:
  - name: example.test
dns: {servers: ["127.0.0.1:9"]}
delivery:
  smarthost: {host: "127.0.0.1", port: $sink, tls: none}
limits: {max_message_size: "10M", max_connections: 20000}
EOF2
  echo "$PASSWORD" | "$HATO" user add bench --password-stdin -c "$d/hato.yaml" >/dev/null 2>&1
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$HATO" serve -c "$d/hato.yaml" >"$d/hato.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local port=""
  for _ in $(seq 1200); do
    port=$(sed -n 's/.*listening listener=bench address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/hato.log" | head -1)
    [ -n "$port" ] && grep -q ' started ' "$d/hato.log" && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "auth_tls_cost.sh: hato did not start" >&2; tail "$d/hato.log" >&2; exit 1; }
  count() { tail -c 300 "$d/sink.log" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true; }
  wait_all() {
    for _ in $(seq 6000); do
      [ "$(count)" -ge "$1" ] 2>/dev/null && return 0
      sleep 0.1
    done
    echo "auth_tls_cost.sh: stalled at $(count) messages" >&2; exit 1
  }
  local args=(-s 1 -T starttls -u bench -p "$PASSWORD" -l 4096 -f bench@example.test
              -t to@relay-target.test -w 600)
  [ "$resume" = 1 ] && args+=(-R)
  "$LOAD" "${args[@]}" -m 5 "127.0.0.1:$port" >"$d/warmup.out"
  wait_all 5
  sleep 2
  callgrind_control -z "$pid" >/dev/null 2>&1
  "$LOAD" "${args[@]}" -m "$N" "127.0.0.1:$port" >"$d/load.out"
  wait_all $((5 + N))
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -TERM "$pid"; wait "$pid" || true
  echo "  $name: $(grep -o 'ok=[0-9]* failed=[0-9]*' "$d/load.out") $(grep -o 'conns=[0-9]* resumed=[0-9]*' "$d/load.out")" >&2
}

total() { callgrind_annotate --auto=no "$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
run full-nocache 0 0
run full-cache 0 1h
run resumed-nocache 1 0
run resumed-cache 1 1h
run full-cache-ecdsa 0 1h ec
fn=$(total "$W/full-nocache/cg.out.1"); fc=$(total "$W/full-cache/cg.out.1")
rn=$(total "$W/resumed-nocache/cg.out.1"); rc=$(total "$W/resumed-cache/cg.out.1")
fe=$(total "$W/full-cache-ecdsa/cg.out.1")
echo "instructions per connection (STARTTLS + AUTH PLAIN + one 4 KiB message; $N connections;"
echo "$(basename "$HATO") $(date -r "$HATO" '+%F %T')):"
awk -v fn="$fn" -v fc="$fc" -v rn="$rn" -v rc="$rc" -v fe="$fe" -v n="$N" 'BEGIN {
  printf "  %-22s %14s %14s\n", "", "cache off", "cache on"
  printf "  %-22s %14.0f %14.0f\n", "full handshake", fn / n, fc / n
  printf "  %-22s %14.0f %14.0f\n", "resumed (ticket)", rn / n, rc / n
  printf "  %-22s %14s %14.0f\n", "full, ECDSA P-256", "", fe / n
  printf "  a cache hit saves %.0f (full) / %.0f (resumed) per AUTH\n", (fn - fc) / n, (rn - rc) / n
  printf "  resumption saves %.0f (cache off) / %.0f (cache on) per connection\n", (fn - rn) / n, (fc - rc) / n
  printf "  both: %.1fx fewer instructions per connection\n", fn / rc
  printf "  an ECDSA certificate saves %.0f per full handshake (cache on)\n", (fc - fe) / n
}'
