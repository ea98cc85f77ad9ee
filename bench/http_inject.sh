#!/bin/bash
# http_inject.sh - the HTTP API (POST /v1/messages, issue 22) next to SMTP submission, in the
# same run, on the same daemon, with the same 4 KiB message: kept-alive connections on both
# sides - wrk with C connections posting the message as message/rfc822 with a Bearer key, and
# bench/smtpload_tls with C pooled sessions (STARTTLS, AUTH PLAIN once per connection, RSET
# between messages). Hato delivers everything to bench/smtpsink_tls as its smarthost, so the
# queue stays small. Rounds alternate HTTP and SMTP; per side: messages/s, p99 latency (wrk's
# from request to answer, smtpload's from the end of DATA to the 250) and Hato's CPU seconds
# per 1,000 messages (utime+stime from /proc). Medians over the rounds at the end.
#
#   bench/http_inject.sh [--conns 20] [--seconds 15] [--rounds 3] [--hato build/hato]
# Needs wrk (apt-get install wrk) and the bench targets (ninja -C build smtpload_tls smtpsink_tls).
set -euo pipefail
cd "$(dirname "$0")/.."
HATO=build/hato CONNS=20 DURATION=15 ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) CONNS=$2; shift 2 ;;
    --seconds) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --hato) HATO=$2; shift 2 ;;
    *) echo "usage: $0 [--conns N] [--seconds S] [--rounds R] [--hato BINARY]" >&2; exit 2 ;;
  esac
done
HATO=$(realpath "$HATO")
LOAD=build/bench/smtpload_tls SINK=build/bench/smtpsink_tls
for tool in "$LOAD" "$SINK"; do
  [ -x "$tool" ] || { echo "$0: $tool missing: ninja -C build smtpload_tls smtpsink_tls" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "$0: wrk missing: apt-get install wrk" >&2; exit 1; }

WORK=$(mktemp -d /tmp/hato-http-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # clock ticks
TICKS=$(getconf CLK_TCK)

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
SINK_PORT=$(free_port)
"$SINK" -n "127.0.0.1:$SINK_PORT" >"$WORK/sink.log" 2>&1 &
PIDS+=($!)

cat >"$WORK/hato.yaml" <<EOF
hostname: bench.example.test
data_dir: "$WORK/data"
users_file: "$WORK/users"
tls: {certificate: "$WORK/cert.pem", key: "$WORK/key.pem"}
listeners:
  - {name: submission, address: "127.0.0.1:0", role: submission, tls: starttls}
  - {name: api, address: "127.0.0.1:0", role: http}
domains:
  - name: example.test
allowed_senders:
  app: ["@example.test"]
dns: {servers: ["127.0.0.1:9"]}
delivery:
  smarthost: {host: "127.0.0.1", port: $SINK_PORT, tls: none}
limits:
  max_message_size: "10M"
  max_connections: 20000
EOF
PASSWORD=bench-password-1
"$HATO" user add app --password-stdin -c "$WORK/hato.yaml" <<<"$PASSWORD" >/dev/null 2>&1
KEY=$("$HATO" user key add app -c "$WORK/hato.yaml" 2>/dev/null)
"$HATO" serve -c "$WORK/hato.yaml" >"$WORK/hato.log" 2>&1 &
HATO_PID=$!
PIDS+=("$HATO_PID")
for _ in $(seq 200); do grep -q ' started ' "$WORK/hato.log" && break; sleep 0.05; done
port_of() { sed -n "s/.*listening listener=$1 address=127\.0\.0\.1:\([0-9]*\).*/\1/p" "$WORK/hato.log" | head -1; }
SMTP_PORT=$(port_of submission) API_PORT=$(port_of api)
[ -n "$SMTP_PORT" ] && [ -n "$API_PORT" ] || { echo "$0: hato did not start" >&2; cat "$WORK/hato.log" >&2; exit 1; }

# The HTTP side's message: 4 KiB, as smtpload_tls -l 4096 sends over SMTP.
python3 - "$WORK/message.eml" <<'EOF'
import sys
head = ("From: bench@example.test\r\nTo: sink@example.net\r\nSubject: http bench\r\n"
        "Message-ID: <http-bench@example.test>\r\nDate: Tue, 08 Dec 2026 00:00:00 +0000\r\n\r\n")
line = "x" * 74 + "\r\n"
body = line * ((4096 - len(head)) // len(line))
open(sys.argv[1], "w", newline="").write(head + body)
EOF
cat >"$WORK/post.lua" <<EOF
local f = io.open("$WORK/message.eml", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
wrk.headers["Content-Type"] = "message/rfc822"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF

declare -a HTTP_RATE HTTP_P99 HTTP_CPU SMTP_RATE SMTP_P99 SMTP_CPU
ms_of() {  # wrk's latency ("12.34ms", "1.20s", "850.00us") in ms
  python3 -c 'import re,sys; v,u=re.match(r"([\d.]+)(us|ms|s)$",sys.argv[1]).groups(); print(round(float(v)*{"us":0.001,"ms":1,"s":1000}[u],2))' "$1"
}
for round in $(seq "$ROUNDS"); do
  before=$(cpu_of "$HATO_PID")
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" \
    "https://127.0.0.1:$API_PORT/v1/messages?to=sink@example.net" >"$WORK/wrk.$round" 2>&1
  after=$(cpu_of "$HATO_PID")
  requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk.$round")
  if grep -q "Non-2xx" "$WORK/wrk.$round"; then
    echo "$0: HTTP answers other than 202:" >&2; cat "$WORK/wrk.$round" >&2; exit 1
  fi
  HTTP_RATE+=("$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$WORK/wrk.$round")")
  HTTP_P99+=("$(ms_of "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.$round")")")
  HTTP_CPU+=("$(python3 -c "print(round(($after - $before) / $TICKS / $requests * 1000, 3))")")

  before=$(cpu_of "$HATO_PID")
  "$LOAD" -s "$CONNS" -D "$DURATION" -T starttls -u app -p "$PASSWORD" -P -k 100000 -l 4096 \
    -f bench@example.test -t sink@example.net "127.0.0.1:$SMTP_PORT" >"$WORK/smtp.$round" 2>&1
  after=$(cpu_of "$HATO_PID")
  line=$(grep 'ok=' "$WORK/smtp.$round" | tail -1)
  field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
  ok=$(field ok)
  [ "$(field failed)" = 0 ] || { echo "$0: SMTP failures:" >&2; cat "$WORK/smtp.$round" >&2; exit 1; }
  SMTP_RATE+=("$(field rate)")
  SMTP_P99+=("$(field p99_ms)")
  SMTP_CPU+=("$(python3 -c "print(round(($after - $before) / $TICKS / $ok * 1000, 3))")")
  echo "round $round: http ${HTTP_RATE[-1]} msg/s p99 ${HTTP_P99[-1]} ms cpu ${HTTP_CPU[-1]} s/1k |" \
       "smtp ${SMTP_RATE[-1]} msg/s p99 ${SMTP_P99[-1]} ms cpu ${SMTP_CPU[-1]} s/1k"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "conns=$CONNS seconds=$DURATION rounds=$ROUNDS (medians; load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-6s %10s %10s %14s\n' side "msg/s" "p99 ms" "cpu s/1k msg"
printf '%-6s %10s %10s %14s\n' http "$(median "${HTTP_RATE[@]}")" "$(median "${HTTP_P99[@]}")" "$(median "${HTTP_CPU[@]}")"
printf '%-6s %10s %10s %14s\n' smtp "$(median "${SMTP_RATE[@]}")" "$(median "${SMTP_P99[@]}")" "$(median "${SMTP_CPU[@]}")"
echo "sink: $(tail -1 "$WORK/sink.log" 2>/dev/null)"
