#!/usr/bin/env bash
# bench/event_cost.sh - instructions per message of Hato without and with events + one webhook,
# counted by valgrind's callgrind, so the figure does not depend on what else the machine runs.
#
#   bench/event_cost.sh [--messages N] [--hato BINARY] [--keep]
#
# For each of `hato` (the plain config of compare.sh) and `hook` (the same with one webhook: a
# local Python HTTPS receiver answering 200, batches of 100): a fresh Hato under callgrind in
# front of smtp-sink, 100 warm-up messages, then the counters zeroed, N messages (default 2,000;
# 20 sessions, 4,096 bytes, smtp-source) until the sink has them all (and, with the hook, the
# receiver every event: 2 per message), then the counters dumped. Prints instructions per
# message per configuration, their ratio, and the functions that differ most (inclusive, per
# message), from callgrind_annotate. Needs valgrind, postfix (smtp-source, smtp-sink), openssl.
# Note: valgrind does not run SHA-NI, so the webhook's HMAC-SHA256 counts ~3x what it costs on
# a CPU that has it (`openssl speed -evp sha256` with and without OPENSSL_ia32cap=":~0x20000000").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HATO="$HERE/../build/hato"
N=2000
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) N=$2; shift 2 ;;
    --hato) HATO=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
. "$HERE/callgrind_lib.sh"
require_tools event_cost.sh "apt-get install valgrind postfix openssl curl" \
  valgrind callgrind_control callgrind_annotate smtp-source smtp-sink openssl curl
HATO=$(realpath "$HATO")
make_workdir event-cost
self_signed "$W/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$W/hook.key" -out "$W/hook.crt" >/dev/null 2>&1
head -c 32 /dev/urandom | base64 >"$W/hook.secret"

run() {  # run MODE: one configuration; leaves $W/MODE/cg.out.1
  local mode=$1 d="$W/$1" sink hook="" hook_port
  mkdir -p "$d/data"; : >"$d/users"
  sink=$(free_port)
  smtp-sink -u nobody -c "127.0.0.1:$sink" 1000 >"$d/sink.log" 2>&1 &
  PIDS+=($!)
  if [ "$mode" = hook ]; then
    hook_port=$(free_port)
    python3 "$(dirname "$0")/hookrecv.py" "$hook_port" "$W/hook.crt" "$W/hook.key" "$d/hook.count" >"$d/hook.log" 2>&1 &
    PIDS+=($!)
    hook="
  ca_file: \"$W/hook.crt\"
events:
  webhooks:
    - {url: \"https://127.0.0.1:$hook_port/hook\", secret_file: \"$W/hook.secret\", batch: 100, timeout: 10s}"
  fi
  cat >"$d/hato.yaml" <<EOF2
hostname: bench.example.test
data_dir: "$d/data"
users_file: "$d/users"
tls: {certificate: "$W/tls.crt", key: "$W/tls.key"}
listeners:
  - {name: bench, address: "127.0.0.1:0", role: submission, tls: none, trusted_networks: ["127.0.0.0/8"]}
domains:
  - name: example.test
dns: {servers: ["127.0.0.1:9"]}
delivery:
  smarthost: {host: "127.0.0.1", port: $sink, tls: none}$hook
limits: {max_message_size: "10M", max_connections: 20000}
EOF2
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$HATO" serve -c "$d/hato.yaml" >"$d/hato.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local port=""
  for _ in $(seq 1200); do
    port=$(sed -n 's/.*listening listener=bench address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/hato.log" | head -1)
    [ -n "$port" ] && grep -q ' started ' "$d/hato.log" && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "event_cost.sh: hato did not start" >&2; tail "$d/hato.log" >&2; exit 1; }
  count() { tail -c 300 "$d/sink.log" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true; }
  wait_all() {  # wait_all MESSAGES: the sink has them, and the receiver their 2 events each
    for _ in $(seq 6000); do
      if [ "$(count)" -ge "$1" ] 2>/dev/null; then
        [ "$mode" != hook ] || [ "$(cat "$d/hook.count" 2>/dev/null || echo 0)" -ge "$((2 * $1))" ] && return 0
      fi
      sleep 0.1
    done
    echo "event_cost.sh: stalled at $(count) messages" >&2; exit 1
  }
  smtp-source -s 10 -m 100 -l 4096 -f from@example.test -t to@relay-target.test "127.0.0.1:$port"
  wait_all 100
  sleep 3
  callgrind_control -z "$pid" >/dev/null 2>&1
  smtp-source -s 20 -m "$N" -l 4096 -f from@example.test -t to@relay-target.test "127.0.0.1:$port"
  wait_all $((100 + N))
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -TERM "$pid"; wait "$pid" || true
}

total() { callgrind_annotate --auto=no "$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
run hato
run hook
a=$(total "$W/hato/cg.out.1"); b=$(total "$W/hook/cg.out.1")
echo "instructions per message ($N messages, $(basename "$HATO") $(date -r "$HATO" '+%F %T')):"
awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN { printf "  hato %.0f, hook %.0f, hook/hato %.3f\n", a / n, b / n, b / a }'
echo "functions that differ most, inclusive, per message (hook - hato, hato, hook):"
python3 - "$W/hato/cg.out.1" "$W/hook/cg.out.1" "$N" <<'PY'
import re, subprocess, sys
def load(f):
    out = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=yes", "--threshold=100", f],
                         capture_output=True, text=True).stdout
    d, started = {}, False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)", line) if started else None
        if m:
            d[m.group(2)] = int(m.group(1).replace(",", ""))
    return d
a, b, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
rows = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
for diff, k in [r for r in rows if "hato::" in r[1] or "rocksdb::" in r[1] or "SSL" in r[1] or "HMAC" in r[1]][:25]:
    name = re.sub(r" \[[^\]]*\]$", "", re.sub(r"^.*?build/\.\./", "", k))
    print(f"  {diff / n:9.0f} {a.get(k, 0) / n:9.0f} {b.get(k, 0) / n:9.0f}  {name[:110]}")
PY
