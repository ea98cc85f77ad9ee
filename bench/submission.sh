#!/usr/bin/env bash
# bench/submission.sh - accepted messages per second on loopback, Hato next to Postfix.
#
#   bench/submission.sh [--messages N] [--sessions S] [--size BYTES] [--hato PATH] [--reuse]
#                       [--systems smtp-sink,hato,postfix]
#
# One run measures, with Postfix's smtp-source as the load (S parallel sessions,
# N messages of BYTES payload, one SMTP connection per message unless --reuse):
#   1. smtp-sink   - the one-hop ceiling: smtp-source straight into smtp-sink
#   2. hato        - a submission listener without TLS, trusted_networks 127.0.0.0/8,
#                    every commit synced to disk before the 250
#   3. postfix     - Debian's Postfix as shipped, a private instance (own config
#                    and queue dirs, smtpd on a free loopback port), queue files
#                    fsynced as by default; defer_transports=smtp so it only accepts
# and prints a table: system, messages, seconds, messages/s. The count for
# Hato and Postfix is what their queues hold afterwards, not what smtp-source sent.
# Needs root (Postfix's master runs as root) and the postfix package.
set -euo pipefail

MESSAGES=5000
SESSIONS=20
SIZE=4096
REUSE=()
SYSTEMS=smtp-sink,hato,postfix
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
    -h|--help) usage 0 ;;
    *) echo "submission.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
for tool in "$SMTP_SOURCE" "$SMTP_SINK" /usr/sbin/postfix openssl; do
  command -v "$tool" >/dev/null || { echo "submission.sh: $tool missing (apt-get install postfix openssl)" >&2; exit 2; }
done
if [[ ",$SYSTEMS," == *,hato,* ]]; then
  [ -x "$HATO" ] || { echo "submission.sh: no hato binary at $HATO (ninja -C build hato)" >&2; exit 2; }
  HATO=$(cd "$(dirname "$HATO")" && pwd)/$(basename "$HATO")
fi
[ "$(id -u)" = 0 ] || { echo "submission.sh: run as root (a private Postfix instance needs it)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hato-bench.XXXXXX")
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

wait_port() {  # wait until something accepts on 127.0.0.1:$1
  for _ in $(seq 200); do
    if /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "submission.sh: nothing listening on port $1" >&2; return 1
}

ROWS=()
# run_load NAME PORT -> prints seconds; smtp-source output in $WORK/NAME.source.log
run_load() {
  local name=$1 port=$2 t0 t1 rc=0
  t0=$(now)
  "$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" "${REUSE[@]}" -f "$FROM" -t "$TO" \
    "127.0.0.1:$port" >"$WORK/$name.source.log" 2>&1 || rc=$?
  t1=$(now)
  if [ "$rc" != 0 ]; then
    echo "submission.sh: smtp-source into $name exited $rc:" >&2
    tail -5 "$WORK/$name.source.log" >&2
  fi
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}
add_row() {  # NAME ACCEPTED SECONDS
  ROWS+=("$1 $2 $3")
}

echo "smtp-source: $SESSIONS sessions, $MESSAGES messages of $SIZE bytes${REUSE:+ (connections reused)}, queue dirs on $(df -T "$WORK" | awk 'NR==2 {print $2" "$1}')"
echo "machine: $(nproc) CPUs, $(uname -r)"

# --- 1. smtp-sink: the ceiling --------------------------------------------------------------
bench_sink() {
SINK_PORT=$(free_port)
"$SMTP_SINK" -u nobody -c "127.0.0.1:$SINK_PORT" 1000 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_port "$SINK_PORT"
secs=$(run_load smtp-sink "$SINK_PORT")
kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true
# smtp-sink -c prints running counts ("sess=N quit=N mesg=N"); take the last mesg=.
sunk=$(tr '\r' '\n' <"$WORK/sink.log" | grep -oE 'mesg=[0-9]+' | tail -1 | cut -d= -f2 || true)
add_row smtp-sink "${sunk:-$MESSAGES}" "$secs"
}

# --- 2. Hato ---------------------------------------------------------------------------------
bench_hato() {
H="$WORK/hato"
mkdir -p "$H"
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
limits:
  max_message_size: "10M"
EOF
"$HATO" serve -c "$H/hato.yaml" 2>"$H/hato.log" &
HATO_PID=$!
PIDS+=("$HATO_PID")
HATO_PORT=""
for _ in $(seq 200); do
  HATO_PORT=$(sed -n 's/.*listening.*listener=bench.*address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$H/hato.log" | head -1)
  [ -n "$HATO_PORT" ] && break
  kill -0 "$HATO_PID" 2>/dev/null || { echo "submission.sh: hato exited:" >&2; tail "$H/hato.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$HATO_PORT" ] || { echo "submission.sh: hato did not log its listening line" >&2; tail "$H/hato.log" >&2; exit 1; }
secs=$(run_load hato "$HATO_PORT")
if hato_ls=$("$HATO" queue ls --json -c "$H/hato.yaml" 2>"$H/queue-ls.err"); then
  accepted=$(printf '%s\n' "$hato_ls" | grep -c '"id"' || true)
else
  # No admin socket yet: count the 250 replies smtp-source reported no error for.
  accepted="$MESSAGES?"
  echo "note: hato queue ls failed ($(head -1 "$H/queue-ls.err")); assuming all $MESSAGES accepted" >&2
fi
kill -TERM "$HATO_PID"
hato_rc=0; wait "$HATO_PID" || hato_rc=$?
[ "$hato_rc" = 0 ] || echo "note: hato exited $hato_rc on SIGTERM" >&2
add_row hato "$accepted" "$secs"
}

# --- 3. Postfix --------------------------------------------------------------------------------
bench_postfix() {
P="$WORK/postfix"
POSTFIX_PORT=$(free_port)
mkdir -p "$P/etc" "$P/spool" "$P/data"
chown postfix "$P/data"
cp /etc/postfix/master.cf "$P/etc/master.cf"
cp /etc/postfix/dynamicmaps.cf "$P/etc/" 2>/dev/null || true
# smtpd on our port instead of :25; no chroot (the chroot would be our spool dir,
# without the etc/ files a chroot needs); everything else as shipped.
awk -v port="$POSTFIX_PORT" '
  /^smtp[ \t]+inet[ \t]/ { $1 = "127.0.0.1:" port; $5 = "n"; print; next }
  /^[a-z]/ && NF >= 8 && $5 == "y" { $5 = "n"; print; next }
  { print }' /etc/postfix/master.cf >"$P/etc/master.cf"
cat >"$P/etc/main.cf" <<EOF
# Debian's Postfix defaults, plus only what a private accept-only instance needs.
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
# Accept and queue only: mail for the smtp transport waits in the deferred queue.
defer_transports = smtp
maillog_file_prefixes = $P
maillog_file = $P/maillog
syslog_name = postfix-bench
EOF
for step in check start; do
  /usr/sbin/postfix -c "$P/etc" $step >"$P/$step.log" 2>&1 || {
    echo "submission.sh: postfix $step failed:" >&2
    cat "$P/$step.log" >&2; tail -5 "$P/maillog" >&2 2>/dev/null; exit 1; }
done
POSTFIX_CONF="$P/etc"
wait_port "$POSTFIX_PORT"
secs=$(run_load postfix "$POSTFIX_PORT")
# Count once Postfix has stopped: its queue manager moves files between the dirs.
master_pid=$(tr -dc 0-9 <"$P/spool/pid/master.pid" 2>/dev/null || true)
/usr/sbin/postfix -c "$P/etc" stop >/dev/null 2>&1 || true
POSTFIX_CONF=""
for _ in $(seq 100); do
  [ -n "$master_pid" ] && kill -0 "$master_pid" 2>/dev/null || break
  sleep 0.1
done
queued=$(find "$P/spool/incoming" "$P/spool/active" "$P/spool/deferred" "$P/spool/hold" \
  "$P/spool/maildrop" -type f 2>/dev/null | wc -l)
add_row postfix "$queued" "$secs"
}

for system in ${SYSTEMS//,/ }; do
  case "$system" in
    smtp-sink|sink) bench_sink ;;
    hato) bench_hato ;;
    postfix) bench_postfix ;;
    *) echo "submission.sh: unknown system $system" >&2; exit 2 ;;
  esac
done

# --- the table --------------------------------------------------------------------------------
echo
printf '%-10s %9s %8s %11s\n' system messages seconds messages/s
for row in "${ROWS[@]}"; do
  set -- $row
  n=${2%\?}
  printf '%-10s %9s %8.2f %11.0f\n' "$1" "$2" "$3" "$(awk -v n="$n" -v s="$3" 'BEGIN{print (s>0)? n/s : 0}')"
done
