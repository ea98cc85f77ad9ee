# bench/compare_real.sh - the part `real` of bench/compare.sh (issue 27); sourced by it, uses
# its helpers (start_hato, start_postfix, procstat, free_port, the smtpload waiter).
#
# Real smarthost traffic: bench/smtpload_tls (built by CMake: ninja -C build smtpload_tls
# smtpsink_tls) submits over STARTTLS with AUTH PLAIN, sizes from a mix (default 60% 4 KiB
# text, 30% 40 KiB multipart/alternative, 10% 400 KiB with a base64 attachment), either one
# connection per message (`conn`) or a pool whose connections send up to 100 messages each
# with RSET between them (`pool`, as nodemailer's pool). The relay signs with DKIM rsa-sha256
# 2048 and delivers over STARTTLS to bench/smtpsink_tls, which counts and discards. Per cell:
# warm-up (--real-warmup messages, must all arrive), then --real-messages timed: e2e msg/s
# and MB/s (load start to the sink counting the last one; MB are the generator's message
# bytes, 10^6), the generator's accept rate and p50/p99/p99.9 (last byte of DATA to 250),
# CPU seconds per 1,000 messages over all of the relay's processes, peak RSS.

REAL_USER=bench
REAL_PASSWORD="bench pw 27"
SMTPLOAD_TLS="$BUILD/bench/smtpload_tls"
SMTPSINK_TLS="$BUILD/bench/smtpsink_tls"
# Exim, OpenSMTPD and Haraka: bench/compare_peers.sh.
# shellcheck source=bench/compare_peers.sh
. "$HERE/compare_peers.sh"

real_check_tools() {
  local t
  for t in "$SMTPLOAD_TLS" "$SMTPSINK_TLS"; do
    [ -x "$t" ] || { echo "compare.sh: $t missing (ninja -C $BUILD smtpload_tls smtpsink_tls)" >&2; exit 2; }
  done
  peers_check_tools
}

start_tls_sink() {  # start_tls_sink PORT LOG [DUMPDIR]: smtpsink_tls with STARTTLS, counting into LOG
  local dump=()
  SINK_LOG=$2
  [ -z "${3:-}" ] || { mkdir -p "$3"; dump=(-d "$3"); }
  "$SMTPSINK_TLS" -c "$WORK/keys/tls.crt" -k "$WORK/keys/tls.key" "${dump[@]}" "127.0.0.1:$1" >"$SINK_LOG" 2>"$SINK_LOG.err" &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  # Its own "listening" line, not a probe connection: the sink counts every connection.
  for _ in $(seq 200); do
    grep -q '^listening' "$SINK_LOG" 2>/dev/null && return 0
    kill -0 "$SINK_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "compare.sh: smtpsink_tls did not start:" >&2; cat "$SINK_LOG.err" >&2; exit 1
}
sink_field() {  # sink_field KEY: KEY= from the sink's last line
  local n
  n=$(tail -c 300 "$SINK_LOG" 2>/dev/null | grep -o "$1=[0-9]*" | tail -1 | cut -d= -f2 || true)
  echo "${n:-0}"
}
sink_bytes() { sink_field bytes; }

REAL_ROWS=()  # system mode sessions msg/s MB/s acc/s p50 p99 p99.9 cpu/1k hwm-KiB procs pss check tls round
real_cell() {  # real_cell SYSTEM MODE SESSIONS
  local sys=$1 mode=$2 sessions=$3 label=$1 dir sink_port port check="-" rc=0
  if [ "$sys" = hato-base ]; then HATO=$HATO_BASE; sys=hato; else HATO=$HATO_NEW; fi
  dir="$WORK/real-$label-$mode-$sessions"
  mkdir -p "$dir"
  log "== real: $label, $mode, $sessions sessions"
  sink_port=$(free_port)
  # Warm-up and check into a sink that keeps each message; the timed run gets a fresh one.
  start_tls_sink "$sink_port" "$dir/check-sink.log" "$dir/dump"
  RELAY_ROOTS=""
  real_start "$sys" "$dir" "$sink_port"
  port=$RELAY_PORT
  local load=(-s "$sessions" -T starttls -u "$REAL_USER" -p "$REAL_PASSWORD" -z "$REAL_MIX" -w "$TIMEOUT")
  # Debian's OpenSMTPD 6.8 cannot take TLS at all with OpenSSL 3 (compare_peers.sh): plain
  # SMTP in, no AUTH, relaying for loopback; the report says so under the table.
  [ "$sys" != opensmtpd ] || load=(-s "$sessions" -T none -z "$REAL_MIX" -w "$TIMEOUT")
  [ "$mode" = pool ] && load+=(-P)
  [ -z "$REAL_RESUME" ] || load+=(-R)
  "$SMTPLOAD_TLS" "${load[@]}" -m "$REAL_WARMUP" -S 99 "127.0.0.1:$port" >"$dir/warmup.log" 2>&1 ||
    log "note: warm-up into $label: $(tail -2 "$dir/warmup.log" | tr '\n' ' ')"
  if ! "$SMTPLOAD" wait "$SINK_LOG" "$REAL_WARMUP" "$TIMEOUT" >/dev/null; then
    log "   skipped: the warm-up did not get through (the sink has $(sink_count); KEEP=1 keeps $dir)"
    REAL_ROWS+=("$label $mode $sessions failed - - - - - - 0 0 0 - - $ROUND")
    real_stop "$sys"
    return 0
  fi
  local tls_out
  tls_out="$(sink_field tls)/$(sink_field conns)"
  stop_sink
  read -r dumped signed verified < <(RAW=1 "$PY" "$WORK/dkimcheck.py" "$dir/dump" "$DKIM_PUB")
  check="$signed/$dumped"; [ "$verified" = - ] || check="$check,ok=$verified"
  rm -rf "$dir/dump"
  sleep 3   # Hato and Postfix drop idle connections to the sink after 2 s (OpenSMTPD: below)
  start_tls_sink "$sink_port" "$dir/sink.log"
  if [ "$sys" = opensmtpd ]; then
    # OpenSMTPD keeps its connections to the sink past 3 s and finds the warm-up sink's dead
    # only when it uses one (TempFail, retried minutes later): a fresh instance for the run.
    stop_peer
    start_opensmtpd "$dir" "$sink_port"
    port=$RELAY_PORT
  fi
  local m0 b0 cpu0 t0 waiter w done_at delivered
  m0=$(sink_count); b0=$(sink_bytes)
  cpu0=$(procstat cpu $RELAY_ROOTS | cut -d' ' -f1)
  "$SMTPLOAD" wait "$SINK_LOG" "$((m0 + REAL_MESSAGES))" "$TIMEOUT" >"$dir/wait.out" &
  waiter=$!
  t0=$(now)
  "$SMTPLOAD_TLS" "${load[@]}" -m "$REAL_MESSAGES" "127.0.0.1:$port" >"$dir/load.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { log "note: smtpload_tls exited $rc:"; tail -3 "$dir/load.log" >&2; }
  wait "$waiter" || true
  read -r w done_at delivered <"$dir/wait.out" || { w=stalled; done_at=$(now); delivered=$m0; }
  sleep 0.3   # let the last removals land
  local cpu1 lat secs msgs mbs cpu rss pss
  cpu1=$(procstat cpu $RELAY_ROOTS | cut -d' ' -f1)
  lat=$(grep '^ok=' "$dir/load.log" || true)
  secs=$(elapsed "$t0" "$done_at")
  msgs=$(rate "$((delivered - m0))" "$secs")
  mbs=$(awk -v b="$(field "$lat" bytes)" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 && b != "-") ? b / 1e6 / s : 0 }')
  [ "$w" = done ] || { msgs="$msgs!"; log "note: the sink has $((delivered - m0)) of $REAL_MESSAGES (stalled ${TIMEOUT}s)"; }
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$REAL_MESSAGES" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
  rss=$(procstat hwm $RELAY_ROOTS)
  pss=$(procstat pss $RELAY_ROOTS | cut -d' ' -f1)
  [ "$sys" != hato ] || check="$check,$(real_hato_check "$dir")"
  real_stop "$sys"
  REAL_ROWS+=("$label $mode $sessions $msgs $mbs $(rate "$(field "$lat" ok)" "$(field "$lat" seconds)") $(field "$lat" p50_ms) $(field "$lat" p99_ms) $(field "$lat" p999_ms) $cpu ${rss% *} ${rss#* } $pss $check $tls_out $ROUND")
  log "   e2e $msgs msg/s, $mbs MB/s; accept p50 $(field "$lat" p50_ms) ms, p99 $(field "$lat" p99_ms) ms;" \
    "CPU $cpu s/1k; peak RSS $(( ${rss% *} / 1024 )) MiB ($(field "$lat" mix); generator conns $(field "$lat" conns), resumed $(field "$lat" resumed))"
}

real_hato_check() {  # real_hato_check DIR: "all" when Hato's own DKIM counter has every message
  local signatures all=$((REAL_WARMUP + REAL_MESSAGES))
  signatures=$(hato_metric "$1" 'hato_dkim_signatures_total')
  [ "${signatures:-0}" = "$all" ] && echo all || echo "counter=${signatures:-?}/$all"
}

real_start() {  # real_start SYSTEM DIR SINKPORT
  case "$1" in
    hato) start_hato "$2" real "$3" ;;
    postfix) start_postfix "$2" real "$3" ;;
    exim) start_exim "$2" "$3" ;;
    opensmtpd) start_opensmtpd "$2" "$3" ;;
    haraka) start_haraka "$2" "$3" ;;
  esac
}
real_stop() {  # real_stop SYSTEM
  case "$1" in
    hato) stop_hato ;;
    postfix) stop_postfix ;;
    *) stop_peer ;;
  esac
  stop_sink
}

# real_ceiling: smtpload_tls straight into smtpsink_tls (no relay), STARTTLS + AUTH, at the
# largest session count: the mix in both modes, then 4 KiB and 100 KiB messages alone.
REAL_CEIL=()  # what mode sessions msg/s MB/s p50 p99 generator-cpu/1k sink-cpu/1k round
REAL_YESCRYPT=""
real_ceiling() {
  local s=${SESSIONS##*,} port i c0 c1 line
  local whats=(mix mix 4KiB 4KiB 100KiB 100KiB) modes=(conn pool conn pool conn pool)
  local mixes=("$REAL_MIX" "$REAL_MIX" 4096:1 4096:1 102400:1 102400:1)
  port=$(free_port)
  log "== real ceiling: smtpload_tls -> smtpsink_tls, STARTTLS + AUTH, $s sessions"
  start_tls_sink "$port" "$WORK/real-ceiling-$ROUND.sink.log"
  for i in "${!whats[@]}"; do
    has "$REAL_MODES" "${modes[$i]}" || continue
    local load=(-s "$s" -T starttls -u "$REAL_USER" -p "$REAL_PASSWORD" -z "${mixes[$i]}" -w "$TIMEOUT")
    [ "${modes[$i]}" = pool ] && load+=(-P)
    [ -z "$REAL_RESUME" ] || load+=(-R)
    c0=$(procstat cpu "$SINK_PID" | cut -d' ' -f1)
    line=$("$SMTPLOAD_TLS" "${load[@]}" -m "$REAL_MESSAGES" "127.0.0.1:$port" 2>"$WORK/real-ceiling.err" | grep '^ok=' || true)
    c1=$(procstat cpu "$SINK_PID" | cut -d' ' -f1)
    [ "$(field "$line" failed)" = 0 ] || log "note: $(field "$line" failed) failed: $(head -2 "$WORK/real-ceiling.err")"
    REAL_CEIL+=("${whats[$i]} ${modes[$i]} $s $(field "$line" rate) $(field "$line" mb_s) $(field "$line" p50_ms) $(field "$line" p99_ms) $(awk -v c="$(field "$line" cpu_s)" -v n="$REAL_MESSAGES" 'BEGIN { printf "%.2f", c * 1000 / n }') $(awk -v a="$c0" -v b="$c1" -v n="$REAL_MESSAGES" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }') $ROUND")
    log "   ${REAL_CEIL[-1]}"
  done
  stop_sink
  # What one AUTH costs either relay: a yescrypt check at the default cost (both hashes).
  REAL_YESCRYPT=$("$PY" -c '
import ctypes, time
lib = ctypes.CDLL("libcrypt.so.1")
lib.crypt_gensalt.restype = lib.crypt.restype = ctypes.c_char_p
h = lib.crypt(b"pw", lib.crypt_gensalt(b"$y$", 0, None, 0))
t = time.process_time()
for _ in range(20):
    lib.crypt(b"pw", h)
print(f"{(time.process_time() - t) / 20 * 1000:.1f}")')
  log "   yescrypt check (libxcrypt, default cost): $REAL_YESCRYPT ms CPU"
}

run_real() {
  local s m sys
  real_ceiling
  for s in ${SESSIONS//,/ }; do
    for m in ${REAL_MODES//,/ }; do
      for sys in ${SYSTEMS//,/ }; do
        case "$sys" in
          hato|hato-base|postfix|exim|opensmtpd|haraka) real_cell "$sys" "$m" "$s" ;;
          *) log "note: the part real does not run $sys" ;;
        esac
      done
    done
  done
}

real_report() {
  if [ ${#REAL_CEIL[@]} -gt 0 ]; then
    echo "smtpload_tls straight into smtpsink_tls (no relay; STARTTLS + AUTH; $REAL_MESSAGES messages a row): the ceiling"
    local cfmt='%-7s %-4s %4s | %8s %7s | %7s %7s | %9s %9s | %s\n' row
    printf "$cfmt" messages mode sess "msg/s" "MB/s" "p50 ms" "p99 ms" "gen s/1k" "sink s/1k" round
    for row in "${REAL_CEIL[@]}"; do set -- $row; printf "$cfmt" "$@"; done
    echo "gen s/1k, sink s/1k: CPU seconds per 1,000 messages of the generator and of the sink (one thread each)."
    echo "One AUTH's password check (yescrypt, libxcrypt's default cost, as both relays store it): ${REAL_YESCRYPT:-?} ms CPU"
    echo
  fi
  [ ${#REAL_ROWS[@]} -gt 0 ] || return 0
  echo "Real traffic: STARTTLS + AUTH PLAIN in, DKIM rsa-2048, STARTTLS out to smtpsink_tls;" \
    "mix $REAL_MIX; $REAL_MESSAGES messages a cell${REAL_RESUME:+; TLS resumption offered (-R)}"
  local fmt='%-9s %-4s %4s | %8s %7s | %8s %8s %8s %8s | %8s | %8s %7s | %-18s %7s | %s\n'
  printf "$fmt" system mode sess "e2e/s" "MB/s" "acc/s" "p50 ms" "p99 ms" "p99.9 ms" "CPU s/1k" "peak RSS" "Pss" "DKIM-signed" "TLS out" round
  local row
  for row in "${REAL_ROWS[@]}"; do
    set -- $row
    printf "$fmt" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "$(( ${11} / 1024 )) (${12})" "$(( ${13} / 1024 ))" "${14}" "${15}" "${16}"
  done
  echo "mode: conn = a connection per message, pool = connections of up to 100 messages (RSET between)."
  echo "e2e/s, MB/s: delivered / (load start to the sink counting the last); MB = the generator's bytes."
  echo "acc/s, p50/p99/p99.9: the generator's own rate and the time from the end of DATA to the 250."
  echo "CPU s/1k: CPU seconds of all the relay's processes per 1,000 messages; peak RSS, Pss: MiB (processes)."
  echo "DKIM-signed: of the $REAL_WARMUP warm-up messages the sink kept, how many carried a DKIM-Signature (ok=:"
  echo "  verified by python3-dkim; all: Hato's hato_dkim_signatures_total counts every message of the cell)."
  echo "TLS out: TLS handshakes / connections the sink saw from the relay during the warm-up."
  if printf '%s\n' "${REAL_ROWS[@]}" | grep -q '^opensmtpd '; then
    echo "opensmtpd: NOT the same load: plain SMTP in, no STARTTLS, no AUTH (relaying for 127.0.0.1)."
    echo "  Debian 12's OpenSMTPD 6.8.0p2 fails every inbound TLS handshake with OpenSSL 3 (its privsep"
    echo "  RSA key: \"rsa routines::missing private key\", OpenSMTPD issues #1171, #1239), and it offers"
    echo "  AUTH only over TLS. DKIM (filter-dkimsign) and STARTTLS to the sink are as for the others."
  fi
  printf 'real %s\n' "${REAL_ROWS[@]}" | "$PY" -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    f = line.split()[1:]
    if len(f) < 16 or f[3] == "failed":
        continue
    num = lambda x: float(x.rstrip("!")) if x not in ("-", "") else None
    rows[(f[0], f[1], f[2], f[15])] = {"e2e": num(f[3]), "cpu": num(f[9])}
cells = sorted({(k[1], k[2]) for k in rows})
rounds = sorted({k[3] for k in rows}, key=int)
# No hato/opensmtpd: its cells get another load (plain, no AUTH; see above).
for other in ("postfix", "exim", "haraka", "hato-base"):
    for mode, sess in cells:
        for key, what in (("e2e", "e2e"), ("cpu", "CPU per message")):
            vals = []
            for r in rounds:
                a, b = rows.get(("hato", mode, sess, r)), rows.get((other, mode, sess, r))
                if a and b and a[key] and b[key]:
                    vals.append(a[key] / b[key])
            if vals:
                text = f"hato/{other}, real {mode}, {sess} sessions, {what}: {statistics.median(vals):.2f}x"
                if len(vals) > 1:
                    text += f" (median of {len(vals)} rounds: " + " ".join(f"{v:.2f}x" for v in vals) + ")"
                print(text)
'
  echo
}

# --- Postfix as a smarthost with AUTH: Dovecot SASL, OpenDKIM, TLS both ways -------------------
# Dovecot only authenticates here (no protocols, an auth listener on loopback that Postfix's
# smtpd_sasl_type = dovecot talks to); its passwd-file holds a yescrypt hash made the way
# `hato user add` makes Hato's (libxcrypt's crypt_gensalt "$y$", default cost; {CRYPT}
# scheme), so both systems check the same password at the same cost.
DOVECOT_PID=""; DOVECOT_PORT=""
start_dovecot() {  # start_dovecot DIR -> SASL on 127.0.0.1:$DOVECOT_PORT
  local d=$1 hash
  mkdir -p "$d/run" "$d/state"
  hash=$("$PY" -c '
import ctypes, sys
lib = ctypes.CDLL("libcrypt.so.1")
lib.crypt_gensalt.restype = lib.crypt.restype = ctypes.c_char_p
print(lib.crypt(sys.argv[1].encode(), lib.crypt_gensalt(b"$y$", 0, None, 0)).decode())' "$REAL_PASSWORD")
  echo "$REAL_USER:{CRYPT}$hash" >"$d/passwd"
  chmod 644 "$d/passwd"
  DOVECOT_PORT=$(free_port)
  printf '%s\n' "base_dir = $d/run" "state_dir = $d/state" "protocols =" "listen = 127.0.0.1" \
    "log_path = $d/dovecot.log" "ssl = no" "auth_mechanisms = plain login" \
    "passdb {" "  driver = passwd-file" "  args = $d/passwd" "}" \
    "userdb {" "  driver = static" "  args = uid=nobody gid=nogroup home=/nonexistent" "}" \
    "service auth {" "  inet_listener {" "    address = 127.0.0.1" "    port = $DOVECOT_PORT" "  }" "}" \
    >"$d/dovecot.conf"
  /usr/sbin/dovecot -F -c "$d/dovecot.conf" >"$d/stdout.log" 2>&1 &
  DOVECOT_PID=$!
  PIDS+=("$DOVECOT_PID")
  wait_port "$DOVECOT_PORT" || { cat "$d/stdout.log" "$d/dovecot.log" >&2; exit 1; }
}
stop_dovecot() {
  [ -n "$DOVECOT_PID" ] || return 0
  kill "$DOVECOT_PID" 2>/dev/null || true
  wait "$DOVECOT_PID" 2>/dev/null || true
  forget_pid "$DOVECOT_PID"
  DOVECOT_PID=""
}
# postfix_real_conf DIR: main.cf lines for the real variant, as Postfix's SASL_README and
# TLS_README set up submission with AUTH: TLS before AUTH, relaying for authenticated clients
# only, TLS required toward the relayhost, both TLS session caches on.
postfix_real_conf() {
  printf '%s\n' \
    "smtpd_tls_cert_file = $WORK/keys/tls.crt" \
    "smtpd_tls_key_file = $WORK/keys/tls.key" \
    "smtpd_tls_security_level = encrypt" \
    "smtpd_tls_auth_only = yes" \
    "smtpd_tls_session_cache_database = btree:$1/data/smtpd_scache" \
    "smtpd_sasl_auth_enable = yes" \
    "smtpd_sasl_type = dovecot" \
    "smtpd_sasl_path = inet:127.0.0.1:$DOVECOT_PORT" \
    "smtpd_relay_restrictions = permit_sasl_authenticated, reject" \
    "smtpd_recipient_restrictions = permit_sasl_authenticated, reject" \
    "smtp_tls_security_level = encrypt" \
    "smtp_tls_session_cache_database = btree:$1/data/smtp_scache"
}
