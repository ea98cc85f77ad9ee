#!/usr/bin/env bash
# bench/relay.sh - delivered messages per second, end to end, Hato next to Postfix.
#
#   bench/relay.sh [--messages N] [--sessions S] [--size BYTES] [--hato PATH] [--reuse]
#                  [--systems smtp-sink,hato,postfix] [--timeout SECONDS]
#
# One run measures, with Postfix's smtp-source as the load (S parallel sessions,
# N messages of BYTES payload, one SMTP connection per message unless --reuse) and
# Postfix's smtp-sink as the final destination (a fresh one per system):
#   1. smtp-sink  - the one-hop ceiling: smtp-source straight into smtp-sink
#   2. hato       - a submission listener without TLS (trusted_networks 127.0.0.0/8)
#                   relaying everything to the sink as its smarthost (tls: none)
#   3. postfix    - Debian's Postfix as shipped, a private instance (own config and
#                   queue dirs, smtpd on a free loopback port) with
#                   relayhost = [127.0.0.1]:SINKPORT
# Each relay is timed from the first byte smtp-source sends to the moment the sink
# has counted the N-th message (smtp-sink -c, polled every 50 ms), so the number is
# delivered messages/s through the relay, queue write and all. `accept s` is how long
# smtp-source took (the submission side alone). Prints a table.
# Needs root (Postfix's master runs as root) and the postfix package.
set -euo pipefail

MESSAGES=5000
SESSIONS=20
SIZE=4096
REUSE=()
SYSTEMS=smtp-sink,hato,postfix
TIMEOUT=300   # give up waiting for deliveries after this many seconds without progress
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HATO="$HERE/../build/hato"
FROM=from@example.test
TO=to@relay-target.test

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) MESSAGES=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --hato) HATO=$2; shift 2 ;;
    --reuse) REUSE=(-d); shift ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "relay.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
for tool in "$SMTP_SOURCE" "$SMTP_SINK" /usr/sbin/postfix openssl; do
  command -v "$tool" >/dev/null || { echo "relay.sh: $tool missing (apt-get install postfix openssl)" >&2; exit 2; }
done
if [[ ",$SYSTEMS," == *,hato,* ]]; then
  [ -x "$HATO" ] || { echo "relay.sh: no hato binary at $HATO (ninja -C build hato)" >&2; exit 2; }
  HATO=$(cd "$(dirname "$HATO")" && pwd)/$(basename "$HATO")
fi
[ "$(id -u)" = 0 ] || { echo "relay.sh: run as root (a private Postfix instance needs it)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hato-relay-bench.XXXXXX")
chmod 755 "$WORK"   # Postfix's daemons (user postfix) must reach its queue below
PIDS=()
POSTFIX_CONF=""
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  [ -n "$POSTFIX_CONF" ] && /usr/sbin/postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{printf "%.3f", $2 - $1}'; }

wait_port() {  # wait until something accepts on 127.0.0.1:$1
  for _ in $(seq 200); do
    if /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "relay.sh: nothing listening on port $1" >&2; return 1
}

# --- the sink -------------------------------------------------------------------------------
# smtp-sink -c writes "sess=N quit=N mesg=N\r" on every event; mesg counts ".".
SINK_PORT=""; SINK_PID=""; SINK_LOG=""
start_sink() {  # start_sink NAME
  SINK_PORT=$(free_port)
  SINK_LOG="$WORK/$1.sink.log"
  "$SMTP_SINK" -u nobody -c "127.0.0.1:$SINK_PORT" 1000 >"$SINK_LOG" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  wait_port "$SINK_PORT"
  # wait_port's probe connection is a session, not a message: mesg stays 0.
}
sink_count() {
  local n
  n=$(tail -c 300 "$SINK_LOG" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2)
  echo "${n:-0}"
}
stop_sink() {
  kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true
}
# wait_delivered NAME -> sets DONE_AT (epoch seconds) and DELIVERED
wait_delivered() {
  local last=-1 last_change n
  last_change=$(date +%s)
  while :; do
    n=$(sink_count)
    if [ "$n" -ge "$MESSAGES" ]; then DONE_AT=$(now); DELIVERED=$n; return 0; fi
    if [ "$n" != "$last" ]; then last=$n; last_change=$(date +%s); fi
    if [ $(( $(date +%s) - last_change )) -ge "$TIMEOUT" ]; then
      echo "relay.sh: $1: only $n of $MESSAGES messages reached the sink (no progress for ${TIMEOUT}s)" >&2
      DONE_AT=$(now); DELIVERED="$n!"; return 0
    fi
    sleep 0.05
  done
}

ROWS=()
# run_load NAME PORT -> sets T0 T1 (epoch seconds); smtp-source output in $WORK/NAME.source.log
run_load() {
  local name=$1 port=$2 rc=0
  T0=$(now)
  "$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" "${REUSE[@]}" -f "$FROM" -t "$TO" \
    "127.0.0.1:$port" >"$WORK/$name.source.log" 2>&1 || rc=$?
  T1=$(now)
  if [ "$rc" != 0 ]; then
    echo "relay.sh: smtp-source into $name exited $rc:" >&2
    tail -5 "$WORK/$name.source.log" >&2
  fi
}
add_row() {  # NAME DELIVERED ACCEPT_SECONDS END_TO_END_SECONDS
  ROWS+=("$1 $2 $3 $4")
}

echo "smtp-source: $SESSIONS sessions, $MESSAGES messages of $SIZE bytes${REUSE:+ (connections reused)}, queue dirs on $(df -T "$WORK" | awk 'NR==2 {print $2" "$1}')"
echo "machine: $(nproc) CPUs, $(uname -r)"

# --- 1. smtp-sink: the ceiling --------------------------------------------------------------
bench_sink() {
  start_sink smtp-sink
  run_load smtp-sink "$SINK_PORT"
  sleep 0.2
  local n; n=$(sink_count)
  stop_sink
  add_row smtp-sink "$n" "$(elapsed "$T0" "$T1")" "$(elapsed "$T0" "$T1")"
}

# --- 2. Hato ---------------------------------------------------------------------------------
bench_hato() {
  local H="$WORK/hato"
  mkdir -p "$H"
  start_sink hato
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$H/key.pem" -out "$H/cert.pem" >/dev/null 2>&1
  : >"$H/users"
  cat >"$H/hato.yaml" <<EOF
hostname: bench.example.test
data_dir: "$H/data"
users_file: "$H/users"
tls:
  certificate: "$H/cert.pem"
  key: "$H/key.pem"
listeners:
  - name: bench
    address: "127.0.0.1:0"
    role: submission
    tls: none
    trusted_networks: ["127.0.0.0/8"]
domains:
  - name: example.test
delivery:
  smarthost:
    host: "127.0.0.1"
    port: $SINK_PORT
    tls: none
limits:
  max_message_size: "10M"
EOF
  "$HATO" serve -c "$H/hato.yaml" 2>"$H/hato.log" &
  local hato_pid=$!
  PIDS+=("$hato_pid")
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening.*listener=bench.*address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$H/hato.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$hato_pid" 2>/dev/null || { echo "relay.sh: hato exited:" >&2; tail "$H/hato.log" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$port" ] || { echo "relay.sh: hato did not log its listening line" >&2; tail "$H/hato.log" >&2; exit 1; }
  run_load hato "$port"
  wait_delivered hato
  local left
  left=$("$HATO" queue ls --json -c "$H/hato.yaml" 2>/dev/null | grep -c '"id"' || true)
  [ "${left:-0}" = 0 ] || echo "note: hato still holds $left messages" >&2
  local failed
  failed=$(grep -c 'status=\(bounced\|deferred\)' "$H/hato.log" || true)
  [ "${failed:-0}" = 0 ] || echo "note: hato logged $failed deferred/bounced delivery lines (see KEEP=1 $H/hato.log)" >&2
  kill -TERM "$hato_pid"
  local rc=0; wait "$hato_pid" || rc=$?
  [ "$rc" = 0 ] || echo "note: hato exited $rc on SIGTERM" >&2
  stop_sink
  add_row hato "$DELIVERED" "$(elapsed "$T0" "$T1")" "$(elapsed "$T0" "$DONE_AT")"
}

# --- 3. Postfix --------------------------------------------------------------------------------
bench_postfix() {
  local P="$WORK/postfix" port
  port=$(free_port)
  start_sink postfix
  mkdir -p "$P/etc" "$P/spool" "$P/data"
  chown postfix "$P/data"
  cp /etc/postfix/dynamicmaps.cf "$P/etc/" 2>/dev/null || true
  # smtpd on our port instead of :25; no chroot (the chroot would be our spool dir,
  # without the etc/ files a chroot needs); everything else as shipped.
  awk -v port="$port" '
    /^smtp[ \t]+inet[ \t]/ { $1 = "127.0.0.1:" port; $5 = "n"; print; next }
    /^[a-z]/ && NF >= 8 && $5 == "y" { $5 = "n"; print; next }
    { print }' /etc/postfix/master.cf >"$P/etc/master.cf"
  cat >"$P/etc/main.cf" <<EOF
# Debian's Postfix defaults, plus only what a private relaying instance needs.
compatibility_level = 3.6
queue_directory = $P/spool
data_directory = $P/data
meta_directory = /etc/postfix
myhostname = postfix-bench.example.test
mydomain = example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
alias_maps =
alias_database =
# Everything to the sink, as Hato's smarthost.
relayhost = [127.0.0.1]:$SINK_PORT
maillog_file_prefixes = $P
maillog_file = $P/maillog
syslog_name = postfix-relay-bench
EOF
  local step
  for step in check start; do
    /usr/sbin/postfix -c "$P/etc" $step >"$P/$step.log" 2>&1 || {
      echo "relay.sh: postfix $step failed:" >&2
      cat "$P/$step.log" >&2; tail -5 "$P/maillog" >&2 2>/dev/null; exit 1; }
  done
  POSTFIX_CONF="$P/etc"
  wait_port "$port"
  run_load postfix "$port"
  wait_delivered postfix
  /usr/sbin/postfix -c "$P/etc" stop >/dev/null 2>&1 || true
  POSTFIX_CONF=""
  stop_sink
  add_row postfix "$DELIVERED" "$(elapsed "$T0" "$T1")" "$(elapsed "$T0" "$DONE_AT")"
}

for system in ${SYSTEMS//,/ }; do
  case "$system" in
    smtp-sink|sink) bench_sink ;;
    hato) bench_hato ;;
    postfix) bench_postfix ;;
    *) echo "relay.sh: unknown system $system" >&2; exit 2 ;;
  esac
done

# --- the table --------------------------------------------------------------------------------
echo
printf '%-10s %9s %9s %9s %12s\n' system delivered "accept s" "e2e s" "delivered/s"
for row in "${ROWS[@]}"; do
  set -- $row
  n=${2%!}
  printf '%-10s %9s %9.2f %9.2f %12.0f\n' "$1" "$2" "$3" "$4" \
    "$(awk -v n="$n" -v s="$4" 'BEGIN{print (s>0)? n/s : 0}')"
done
echo "(delivered: counted by the sink; a trailing ! means fewer than $MESSAGES arrived)"
