# bench/compare_peers.sh - Exim, OpenSMTPD and Haraka as smarthosts for the part `real` of
# shellcheck shell=bash disable=SC2034
# bench/compare.sh (issue 27); sourced by compare_real.sh, uses compare.sh's helpers
# (free_port, wait_port, PIDS, forget_pid, log, WORK/keys) and sets RELAY_PORT, RELAY_ROOTS
# as start_hato/start_postfix do.
#
# Each is set up as its documentation sets up a smarthost with AUTH: STARTTLS offered and
# AUTH PLAIN only after it, relaying for authenticated clients only, DKIM rsa-sha256 with the
# one key of the run (selector s1, example.test, relaxed/relaxed where it can be chosen), its
# durable queue as shipped, STARTTLS required toward the sink (certificate not verified: the
# sink's is self-signed; Postfix's `encrypt` does not verify either).
#   exim       Debian's exim4-daemon-heavy, unpacked (conflicts with postfix), `exim4 -C conf
#              -bdf -q30m` (the daemon and its queue runner as Debian runs them); plaintext
#              server authenticator checking the yescrypt hash with crypteq ({crypt}: libxcrypt's
#              crypt(), the same hash and cost as Hato's and Dovecot's); DKIM on the smtp
#              transport (dkim_domain, dkim_selector, dkim_private_key); a manualroute
#              router to the sink. Changed from the defaults: smtp_accept_queue_per_connection
#              = 0 (default 10: in pool mode every message after a connection's tenth would
#              wait for the 30 min queue runner) and smtp_accept_max = 1000 (default 20: more
#              sessions than that would be refused, not queued).
#   opensmtpd  Debian's opensmtpd 6.8, unpacked, `smtpd -d -f conf`, with Debian's
#              opensmtpd-filter-dkimsign as its proc-exec filter (as smtpd.conf(5) shows).
#              NOT the same load as the others: with bookworm's OpenSSL 3 its server side
#              fails every TLS handshake (the privsep RSA key in its `ca` process: "rsa
#              routines::missing private key", OpenSMTPD issues #1171 and #1239, fixed only
#              after 6.8), and it offers AUTH only over TLS; so it takes plain SMTP without
#              AUTH and relays for loopback. Its auth table (the yescrypt hash, checked with
#              crypt()) is still written for when a fixed version is packaged. Its queue is
#              the compiled-in /var/spool/smtpd and its control socket /run/smtpd.sock: one
#              instance on the machine at a time (none runs here otherwise).
#   haraka     Haraka from npm (bench dir, no global install), one process (nodes as
#              shipped), plugins tls, auth/flat_file (the password in clear in
#              auth_flat_file.ini: that plugin has no hashes), dkim (signing on, the key in
#              config/dkim/example.test/) and queue/smtp_forward with enable_outbound=false
#              and a [relay-target.test] route: relayed mail is written to Haraka's outbound
#              queue (on disk, before the 250) and delivered from there to the sink by its
#              get_mx hook (with enable_outbound=true it would instead be forwarded live,
#              before the 250, with no queue at all).
# The unpacked trees and Haraka live in PEERS_DIR (default /var/tmp/hato-bench-peers), made
# by bench/fetch_peers.sh when missing.

PEERS_DIR=${HATO_PEERS_DIR:-/var/tmp/hato-bench-peers}
EXIM_BIN="$PEERS_DIR/root-exim4-daemon-heavy/usr/sbin/exim4"
SMTPD_BIN="$PEERS_DIR/root-opensmtpd/usr/sbin/smtpd"
DKIMSIGN_BIN="$PEERS_DIR/root-opensmtpd-filter-dkimsign/usr/libexec/opensmtpd/filter-dkimsign"
HARAKA_BIN="$PEERS_DIR/haraka/node_modules/.bin/haraka"

peers_check_tools() {  # fetches the peers named in SYSTEMS when missing
  local need="" s
  for s in exim opensmtpd haraka; do has "$SYSTEMS" "$s" && need=1; done
  [ -n "$need" ] || return 0
  if [ ! -x "$EXIM_BIN" ] || [ ! -x "$SMTPD_BIN" ] || [ ! -x "$DKIMSIGN_BIN" ] || [ ! -x "$HARAKA_BIN" ] ||
    [ ! -s "$PEERS_DIR/haraka/dhparams.pem" ] || ! getent passwd opensmtpd >/dev/null; then
    log "compare.sh: fetching Exim, OpenSMTPD and Haraka into $PEERS_DIR (bench/fetch_peers.sh)"
    "$HERE/fetch_peers.sh" "$PEERS_DIR" >&2 || { echo "compare.sh: fetch_peers.sh failed" >&2; exit 2; }
  fi
}

real_password_hash() {  # a yescrypt hash of REAL_PASSWORD, made as `hato user add` makes it
  "$PY" -c '
import ctypes, sys
lib = ctypes.CDLL("libcrypt.so.1")
lib.crypt_gensalt.restype = lib.crypt.restype = ctypes.c_char_p
print(lib.crypt(sys.argv[1].encode(), lib.crypt_gensalt(b"$y$", 0, None, 0)).decode())' "$REAL_PASSWORD"
}

PEER_PID=""
peer_wait_start() {  # peer_wait_start NAME LOG...: the relay's port answers, or it exited
  local name=$1; shift
  for _ in $(seq 400); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1',$RELAY_PORT),0.2).close()" 2>/dev/null && return 0
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "compare.sh: $name did not start:" >&2
  tail -n 20 "$@" >&2 2>/dev/null
  exit 1
}
stop_peer() {
  [ -n "$PEER_PID" ] || return 0
  kill -TERM "$PEER_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$PEER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PEER_PID" 2>/dev/null || true
  wait "$PEER_PID" 2>/dev/null || true
  forget_pid "$PEER_PID"
  PEER_PID=""
}

# --- Exim -----------------------------------------------------------------------------------
start_exim() {  # start_exim DIR SINKPORT
  local d=$1 sink_port=$2
  mkdir -p "$d/spool" "$d/log"
  chmod 755 "$d"
  # Exim reads its keys after it drops root for Debian-exim.
  cp "$WORK/keys/dkim.pem" "$d/dkim.pem"
  cp "$WORK/keys/tls.key" "$d/tls.key"
  echo "$REAL_USER: {crypt}$(real_password_hash)" >"$d/passwd"
  chown Debian-exim:Debian-exim "$d/spool" "$d/log" "$d/dkim.pem" "$d/tls.key" "$d/passwd"
  chmod 600 "$d/dkim.pem" "$d/tls.key" "$d/passwd"
  RELAY_PORT=$(free_port)
  cat >"$d/exim.conf" <<EOF
# local_domains: none (a smarthost relays everything).
domainlist local_domains =
primary_hostname = exim-bench.example.test
# Exim re-executes itself for delivery: this binary, not the compiled-in /usr/sbin/exim4.
exim_path = $EXIM_BIN
spool_directory = $d/spool
log_file_path = $d/log/%slog
pid_file_path = $d/exim.pid
keep_environment =
add_environment = <; PATH=/usr/bin:/bin
local_interfaces = 127.0.0.1
daemon_smtp_ports = $RELAY_PORT
qualify_domain = example.test
smtp_accept_max = 1000
smtp_accept_queue_per_connection = 0
tls_certificate = $WORK/keys/tls.crt
tls_privatekey = $d/tls.key
tls_advertise_hosts = *
auth_advertise_hosts = \${if eq{\$tls_in_cipher}{}{}{*}}
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept authenticated = *
  deny   message = relay not permitted

begin routers
smarthost:
  driver = manualroute
  domains = ! +local_domains
  transport = remote_smtp_smarthost
  route_list = * 127.0.0.1::$sink_port byname
  self = send
  no_more

begin transports
remote_smtp_smarthost:
  driver = smtp
  port = $sink_port
  hosts_require_tls = *
  tls_verify_certificates =
  tls_try_verify_hosts =
  allow_localhost
  dkim_domain = example.test
  dkim_selector = s1
  dkim_private_key = $d/dkim.pem
  dkim_canon = relaxed

begin retry
*   *   F,2h,15m; G,16h,1h,1.5; F,4d,6h

begin authenticators
plain_server:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if crypteq{\$auth3}{\${lookup{\$auth2}lsearch{$d/passwd}{\$value}fail}}}
  server_set_id = \$auth2
  server_advertise_condition = \${if def:tls_in_cipher}
EOF
  # The daemon as a child subreaper (PR_SET_CHILD_SUBREAPER, kept across exec): a delivery
  # process outlives the connection's process that forked it, and would otherwise be
  # re-parented out of the tree whose CPU is counted; the daemon reaps it (waitpid(-1)).
  env -i PATH=/usr/bin:/bin "$PY" -c 'import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0 or sys.exit("prctl failed")
os.execv(sys.argv[1], sys.argv[1:])' "$EXIM_BIN" -C "$d/exim.conf" -bdf -q30m >"$d/stdout.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  peer_wait_start exim "$d/stdout.log" "$d/log/mainlog" "$d/log/paniclog"
  RELAY_ROOTS=$PEER_PID
}

# --- OpenSMTPD ------------------------------------------------------------------------------
SMTPD_SPOOL=/var/spool/smtpd
start_opensmtpd() {  # start_opensmtpd DIR SINKPORT
  local d=$1 sink_port=$2
  mkdir -p "$d"
  chmod 755 "$d"
  cp "$WORK/keys/tls.crt" "$d/tls.crt"
  cp "$WORK/keys/tls.key" "$d/tls.key"
  chmod 600 "$d/tls.key"
  cp "$WORK/keys/dkim.pem" "$d/dkim.pem"
  chown _dkimsign:_dkimsign "$d/dkim.pem"
  chmod 600 "$d/dkim.pem"
  printf '%s %s\n' "$REAL_USER" "$(real_password_hash)" >"$d/creds"
  chown root:opensmtpd "$d/creds"
  chmod 640 "$d/creds"
  # The queue as shipped, but empty for each cell (its path is compiled in).
  rm -rf "$SMTPD_SPOOL"
  RELAY_PORT=$(free_port)
  cat >"$d/smtpd.conf" <<EOF
pki bench cert "$d/tls.crt"
pki bench key "$d/tls.key"
table creds file:$d/creds
filter "dkimsign" proc-exec "$DKIMSIGN_BIN -a rsa-sha256 -c relaxed/relaxed -d example.test -s s1 -k $d/dkim.pem" user _dkimsign group _dkimsign
# What the others get: "listen on ... tls pki bench auth <creds>" and "match auth from any
# for any", which fails every TLS handshake here (see above); so plain in, loopback relays.
listen on 127.0.0.1 port $RELAY_PORT filter "dkimsign" hostname opensmtpd-bench.example.test
action "relay" relay host smtp+tls://127.0.0.1:$sink_port tls no-verify
match from local for any action "relay"
EOF
  "$SMTPD_BIN" -n -f "$d/smtpd.conf" >"$d/check.log" 2>&1 ||
    { echo "compare.sh: smtpd -n failed:" >&2; cat "$d/check.log" >&2; exit 1; }
  "$SMTPD_BIN" -d -f "$d/smtpd.conf" >"$d/smtpd.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  peer_wait_start opensmtpd "$d/smtpd.log"
  RELAY_ROOTS=$PEER_PID
}

# --- Haraka ---------------------------------------------------------------------------------
start_haraka() {  # start_haraka DIR SINKPORT
  local d=$1 sink_port=$2 c
  rm -rf "$d/haraka"
  "$HARAKA_BIN" -i "$d/haraka" >"$d/haraka-init.log" 2>&1 ||
    { echo "compare.sh: haraka -i failed:" >&2; cat "$d/haraka-init.log" >&2; exit 1; }
  c="$d/haraka/config"
  RELAY_PORT=$(free_port)
  printf '%s\n' "listen=127.0.0.1:$RELAY_PORT" >"$c/smtp.ini"
  printf '%s\n' tls auth/flat_file dkim queue/smtp_forward >"$c/plugins"
  printf '%s\n' "[main]" "key=$WORK/keys/tls.key" "cert=$WORK/keys/tls.crt" >"$c/tls.ini"
  cp "$PEERS_DIR/haraka/dhparams.pem" "$c/dhparams.pem"   # else made at start: a minute of CPU
  printf '%s\n' "[core]" "methods=PLAIN,LOGIN" "[users]" "$REAL_USER=$REAL_PASSWORD" >"$c/auth_flat_file.ini"
  # enable_outbound=false: relayed mail goes into Haraka's outbound queue (on disk, as
  # shipped) instead of being forwarded before the 250; smtp_forward's get_mx hook routes the
  # load's recipient domain from that queue to the sink (Outbound.md: "smart host" by get_mx).
  printf '%s\n' "host=127.0.0.1" "port=$sink_port" "enable_tls=true" "enable_outbound=false" \
    "[relay-target.test]" "host=127.0.0.1" "port=$sink_port" >"$c/smtp_forward.ini"
  # The shipped dkim.ini with signing on, our selector and domain, the body canonicalized relaxed.
  sed -e 's/^enabled = false/enabled = true/' -e 's/^selector = .*/selector = s1/' \
    -e 's/^domain = .*/domain = example.test/' -e 's/^; body = relaxed.*/body = relaxed/' \
    "$PEERS_DIR/haraka/node_modules/haraka-plugin-dkim/config/dkim.ini" >"$c/dkim.ini"
  mkdir -p "$c/dkim/example.test"
  cp "$WORK/keys/dkim.pem" "$c/dkim/example.test/private"
  echo s1 >"$c/dkim/example.test/selector"
  (cd "$d/haraka" && exec "$HARAKA_BIN" -c "$d/haraka") >"$d/haraka.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  peer_wait_start haraka "$d/haraka.log"
  RELAY_ROOTS=$PEER_PID
}
