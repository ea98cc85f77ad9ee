#!/usr/bin/env bash
# bench/queue_scale.sh - the admin API against a big queue: startup, `queue ls --limit 10`,
# `queue summary`, a full listing, and the daemon's memory through it all.
#
#   bench/queue_scale.sh [--messages N] [--size BYTES] [--domains D] [--build DIR] [--runs R]
#
# 1. Fills a fresh queue with N deferred messages (default 1,000,000 of 1 KiB, one
#    recipient each at one of D=1000 domains, created over the last 48 hours, next
#    attempt in an hour) with bench/queue_fill.cc, compiled here against the build's
#    own libraries: it inserts through queue::open_rocksdb_store() and the committer,
#    as the daemon does, without SMTP in between (which would take minutes a million).
# 2. Starts `hato serve` on that queue and reports the time until the admin socket
#    answers, and the daemon's VmRSS.
# 3. Times `queue ls --limit 10` (JSON and table) and `queue summary` with hyperfine
#    when installed (else with date), a filtered listing that matches nothing (a full
#    walk that sends nothing), `ls --limit 10` again while a summary and a full
#    listing run (the walks yield to the loop), and one full `queue ls --json`,
#    sampling the daemon's VmRSS every 50 ms meanwhile; then VmRSS and VmHWM after.
# Needs a built tree (ninja -C build hato hato_queue), c++, and optionally hyperfine.
set -euo pipefail

MESSAGES=1000000
SIZE=1024
DOMAINS=1000
RUNS=20
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD="$ROOT/build"

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) MESSAGES=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --domains) DOMAINS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "queue_scale.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
BUILD=$(cd "$BUILD" && pwd)
HATO="$BUILD/hato"
for f in "$HATO" "$BUILD/queue/libhato_queue.a" "$BUILD/common/libhato_common.a"; do
  [ -e "$f" ] || { echo "queue_scale.sh: $f missing (ninja -C $BUILD hato)" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hato-qscale.XXXXXX")
PID=""
cleanup() {
  set +e
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
  "load $(cut -d' ' -f1-3 /proc/loadavg); $(df -h "$WORK" | awk 'NR==2 { print $1 " " $6 }')"

# -- 1. fill ----------------------------------------------------------------------------------
c++ -std=c++20 -O2 -I"$ROOT" "$HERE/queue_fill.cc" -o "$WORK/queue_fill" \
  "$BUILD/queue/libhato_queue.a" "$BUILD/common/libhato_common.a" \
  -lrocksdb $(pkg-config --libs libevent_pthreads libevent) -lpthread
mkdir -p "$WORK/data"
"$WORK/queue_fill" --path "$WORK/data/queue" --messages "$MESSAGES" --size "$SIZE" \
  --domains "$DOMAINS"
echo "queue on disk: $(du -sh "$WORK/data/queue" | cut -f1)"

# -- 2. start ---------------------------------------------------------------------------------
# DNS goes to a port where nothing listens; nothing is due for an hour anyway.
DEAD_DNS=$(/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
: > "$WORK/users"
cat > "$WORK/hato.yaml" <<EOF
hostname: relay.example.test
data_dir: $WORK/data
users_file: $WORK/users
tls: {certificate: $WORK/cert.pem, key: $WORK/key.pem}
admin: {metrics: "127.0.0.1:0"}
listeners:
  - {name: trusted, address: "127.0.0.1:0", role: submission, tls: none,
     trusted_networks: ["127.0.0.0/8"]}
domains:
  - name: example.test
dns: {servers: ["127.0.0.1:$DEAD_DNS"]}
EOF
CONF=(-c "$WORK/hato.yaml")
q() { "$HATO" queue "$@" "${CONF[@]}"; }

t0=$(now)
"$HATO" serve "${CONF[@]}" > "$WORK/hato.log" 2>&1 &
PID=$!
until q ls --limit 1 --json >/dev/null 2>&1; do
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/hato.log"; echo "hato died" >&2; exit 1; }
  sleep 0.02
done
t1=$(now)
echo "startup (exec until the admin socket answers): $(elapsed "$t0" "$t1") s"
echo "daemon VmRSS after start: $(mib "$(status_kib "$PID" VmRSS)")"

# -- 3. measure -------------------------------------------------------------------------------
timeit() {  # timeit NAME RUNS COMMAND...: mean seconds (hyperfine, or date around a loop)
  local name=$1 runs=$2; shift 2
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$WORK/h.json" "$*" >/dev/null 2>&1
    /usr/bin/python3 - "$WORK/h.json" "$name" "$runs" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"{sys.argv[2]}: mean {r['mean'] * 1000:.1f} ms, min {r['min'] * 1000:.1f}, "
      f"max {r['max'] * 1000:.1f} ({sys.argv[3]} runs, hyperfine)")
PY
  else
    local a b
    a=$(now)
    for _ in $(seq "$runs"); do "$@" >/dev/null; done
    b=$(now)
    awk -v n="$name" -v r="$runs" -v s="$(elapsed "$a" "$b")" \
      'BEGIN { printf "%s: mean %.1f ms (%d runs)\n", n, s * 1000 / r, r }'
  fi
}
H="$HATO"
C="${CONF[*]}"
timeit "queue ls --limit 10 --json" "$RUNS" $H queue ls --limit 10 --json $C
timeit "queue ls --limit 10 (table)" "$RUNS" $H queue ls --limit 10 $C
timeit "queue summary" 3 $H queue summary $C
timeit "queue ls --state held (walks all, matches none)" 3 $H queue ls --state held --json $C
METRICS=$(grep -o 'metrics listening address=[0-9.:]*' "$WORK/hato.log" | cut -d= -f2)
[ -n "$METRICS" ] && timeit "GET /metrics" 5 curl -sf "http://$METRICS/metrics"
q summary > "$WORK/summary.out"
head -4 "$WORK/summary.out"

# The walks run in slices on the daemon's loop: others are served in between.
q summary > /dev/null &
BG1=$!
q ls --json > /dev/null &
BG2=$!
sleep 0.1
timeit "queue ls --limit 10 --json while a summary and a full listing run" 5 \
  $H queue ls --limit 10 --json $C
wait "$BG1" "$BG2"

rss_before=$(status_kib "$PID" VmRSS)
hwm_before=$(status_kib "$PID" VmHWM)
peak=0
q ls --json > "$WORK/ls.out" &
LS=$!
t0=$(now)
while kill -0 "$LS" 2>/dev/null; do
  r=$(status_kib "$PID" VmRSS)
  [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.05
done
wait "$LS"
t1=$(now)
rss_after=$(status_kib "$PID" VmRSS)
hwm_after=$(status_kib "$PID" VmHWM)
echo "full queue ls --json: $(wc -l < "$WORK/ls.out") lines, $(du -h "$WORK/ls.out" | cut -f1)," \
  "$(elapsed "$t0" "$t1") s"
echo "daemon VmRSS before $(mib "$rss_before"), highest seen during $(mib "$peak")," \
  "after $(mib "$rss_after"); VmHWM before $(mib "$hwm_before"), after $(mib "$hwm_after")"
t0=$(now)
kill -TERM "$PID"
wait "$PID" || true
PID=""
echo "stop (SIGTERM until exit): $(elapsed "$t0" "$(now)") s"
