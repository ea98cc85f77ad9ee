#!/usr/bin/env bash
# bench/compare.sh - Hato next to Postfix (+OpenDKIM), end to end, in one run on loopback.
#
#   bench/compare.sh [--quick] [--parts ceiling,table,scale,idle,real] [--systems hato,postfix]
#                    [--variants plain,dkim] [--sessions 20,100] [--messages N]
#                    [--latency-messages N] [--size BYTES] [--warmup N]
#                    [--scale 1000,100000,1000000] [--fill-size BYTES] [--idle N]
#                    [--openssl-seconds S] [--timeout S] [--build DIR] [--rounds R]
#                    [--base BINARY] [--real-modes conn,pool] [--real-messages N]
#                    [--real-warmup N] [--real-mix SIZE:WEIGHT,...] [--real-resume]
#
# Defaults: parts ceiling,table,scale,idle, 10,000 messages of 4096 bytes a run, warm-up 200, idle 10,000;
# --quick: 1,000 messages a run, warm-up 50, scale 0, 1,000 and 10,000, 1,000 idle.
#   ceiling  smtp-source -> smtp-sink (one hop, no relay; also with -d, connections
#            reused) and smtpload -> smtp-sink; `openssl speed rsa2048` sign/s
#   table    for each session count, variant (plain; DKIM rsa-sha256 2048: Hato's own
#            signer, Postfix with Debian's OpenDKIM as a milter) and system (Hato; Debian's
#            Postfix, a private instance, its queue as shipped): a fresh relay in front of
#            a fresh smtp-sink, then
#              1. warm-up/check: W messages into a sink that dumps them; counts (and, with
#                 python3-dkim, verifies) the DKIM-Signatures the relay added
#              2. smtp-source: N messages, one connection each -> e2e msg/s (load start to
#                 the sink counting the N-th), accept msg/s, CPU s per 1,000 messages
#              3. smtpload: N messages the same way -> accept latency p50/p99
#            and the relay's peak RSS over the whole cell
#   scale    Hato only: a queue pre-filled by bench/queue_fill.cc with Q deferred messages
#            (next attempt >= 1 h away: none is tried during the run; 0: the empty-queue
#            baseline, in the same run), then start-up time,
#            its CPU, RSS after start, and the plain 20-session run of `table`
#   idle     Hato only: N connections that read the greeting and then idle; VmRSS
#   real     (not in the default parts) real smarthost traffic, bench/compare_real.sh: STARTTLS
#            + AUTH PLAIN from bench/smtpload_tls (mixed sizes, a connection per message
#            `conn` or pooled `pool`), DKIM rsa-2048, STARTTLS to bench/smtpsink_tls; e2e msg/s
#            and MB/s, accept p50/p99/p99.9, CPU s/1k of all the relay's processes, peak RSS.
#            --real-messages (2,000; --quick 300) per cell after --real-warmup (50);
#            --real-resume: the generator offers TLS session tickets back. Its systems also
#            exim, opensmtpd, haraka (bench/compare_peers.sh: unpacked Debian packages and
#            Haraka from npm, fetched by bench/fetch_peers.sh into $HATO_PEERS_DIR, default
#            /var/tmp/hato-bench-peers; OpenSMTPD takes plain SMTP without AUTH, see there).
# --base BINARY adds the system `hato-base` (list it in --systems, e.g. hato,hato-base): that
# binary, configured exactly as `hato`, so a change is measured against the code before it
# in the same run; the ratios then include hato/hato-base. `hato-base-hook` is that binary
# configured as `hato-hook`, so the cost of events + webhook before and after a change shows
# in one run (ratios hato-base-hook/hato-base next to hato-hook/hato).
# The system `hato-hook` is this tree's Hato with events on and one webhook: a local HTTPS
# receiver (Python, answers 200 at once) for every event in batches of 100, so the cost of
# events + webhook shows in the same run (ratios hato-hook/hato; issue 21 asks for <= 10% of
# e2e throughput). After each cell the receiver's event count is checked against the outbox.
# --rounds R repeats ceiling, table and real R times, interleaved (ceiling, cells, ceiling, ...),
# and prints each ratio per round and its median: on a shared host the machine's speed
# drifts by 2x within minutes, so a ratio is only honest between runs made close together.
# smtpload is a small C load generator written out and compiled by this script: one
# connection per message like smtp-source, and for each message the time from writing
# the final "." to reading the 250.
# CPU: utime+stime (+ reaped children) from /proc over the relay's process tree: Hato's
# one process; Postfix's master and all under it (+ opendkim with DKIM). Peak RSS: Hato's
# VmHWM; Postfix the SUM of VmHWM over its processes alive at the end (+ opendkim),
# which overstates (shared pages count once per process), so Pss is printed beside it.
# Needs root, postfix, opendkim, openssl, cc, c++, curl, a built tree (ninja -C build hato);
# optional python3-dkim. KEEP=1 keeps the work dir (configs, logs).
set -eEuo pipefail
trap 'echo "compare.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR

PARTS=ceiling,table,scale,idle
SYSTEMS=hato,postfix
VARIANTS=plain,dkim
SESSIONS=20,100
MESSAGES=10000
LAT_MESSAGES=""
SIZE=4096
WARMUP=200
SCALE=0,1000,100000,1000000
FILL_SIZE=4096
IDLE=10000
OPENSSL_SECONDS=3
TIMEOUT=60
ROUNDS=1
ROUND=1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD="$ROOT/build"
FROM=from@example.test
TO=to@relay-target.test
PY=/usr/bin/python3
HATO_BASE=""
REAL_MODES=conn,pool
REAL_MESSAGES=2000
REAL_WARMUP=50
REAL_MIX=4k:60,40k:30,400k:10
REAL_RESUME=""

usage() { sed -n '2,51p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
for a in "$@"; do
  # --quick sets smaller defaults; flags given alongside it still win, wherever they stand.
  [ "$a" = --quick ] && { MESSAGES=1000; WARMUP=50; SCALE=0,1000,10000; IDLE=1000; OPENSSL_SECONDS=1; REAL_MESSAGES=300; }
done
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) shift ;;
    --parts) PARTS=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --messages) MESSAGES=$2; shift 2 ;;
    --latency-messages) LAT_MESSAGES=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --fill-size) FILL_SIZE=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --openssl-seconds) OPENSSL_SECONDS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --base) HATO_BASE=$2; shift 2 ;;
    --real-modes) REAL_MODES=$2; shift 2 ;;
    --real-messages) REAL_MESSAGES=$2; shift 2 ;;
    --real-warmup) REAL_WARMUP=$2; shift 2 ;;
    --real-mix) REAL_MIX=$2; shift 2 ;;
    --real-resume) REAL_RESUME=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
LAT_MESSAGES=${LAT_MESSAGES:-$MESSAGES}
has() { [[ ",$1," == *,"$2",* ]]; }

BUILD=$(cd "$BUILD" && pwd)
HATO="$BUILD/hato"
HATO_NEW=$HATO
if has "$SYSTEMS" hato-base || has "$SYSTEMS" hato-base-hook; then
  [ -x "$HATO_BASE" ] || { echo "compare.sh: --systems hato-base needs --base BINARY" >&2; exit 2; }
  HATO_BASE=$(realpath "$HATO_BASE")
fi
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
for tool in "$SMTP_SOURCE" "$SMTP_SINK" /usr/sbin/postfix /usr/sbin/opendkim openssl cc c++ curl "$PY"; do
  command -v "$tool" >/dev/null ||
    { echo "compare.sh: $tool missing (apt-get install postfix opendkim openssl gcc g++)" >&2; exit 2; }
done
[ -x "$HATO" ] || { echo "compare.sh: no hato binary at $HATO (ninja -C $BUILD hato)" >&2; exit 2; }
# shellcheck source=bench/compare_real.sh
. "$HERE/compare_real.sh"
! has "$PARTS" real || real_check_tools
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (Postfix's master, smtp-sink -u)" >&2; exit 2; }

# 10,000 idle connections need as many descriptors in Hato and in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hato-compare.XXXXXX")
chmod 755 "$WORK"   # Postfix's daemons and OpenDKIM (own users) must reach their files below
PIDS=()             # background processes of ours, killed at exit
POSTFIX_CONF=""
cleanup() {
  set +e
  [ -n "$POSTFIX_CONF" ] && /usr/sbin/postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # wait until something accepts on 127.0.0.1:$1
  for _ in $(seq 400); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "compare.sh: nothing listening on port $1" >&2; return 1
}
forget_pid() {  # drop $1 from PIDS once it has been waited for
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
log() { echo "$*" >&2; }

# --- helpers written out at start ----------------------------------------------------------
# procstat.py cpu|hwm|rss|pss PID...: CPU seconds (utime+stime+cutime+cstime) or the sum of
# VmHWM/VmRSS/Pss (KiB) over the process trees rooted at the PIDs; prints "VALUE NPROCS".
cat >"$WORK/procstat.py" <<'PY'
import os, sys
def table():
    ps = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()
        ps[int(d)] = (int(f[1]), int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]))
    return ps
ps = table()
kids = {}
for pid, (ppid, _) in ps.items():
    kids.setdefault(ppid, []).append(pid)
todo = [int(p) for p in sys.argv[2:] if int(p) in ps]
tree = []
while todo:
    p = todo.pop()
    tree.append(p)
    todo += kids.get(p, [])
if sys.argv[1] == "cpu":
    print(f"{sum(ps[p][1] for p in tree) / os.sysconf('SC_CLK_TCK'):.2f} {len(tree)}")
else:
    mode = sys.argv[1]
    key = {"hwm": "VmHWM:", "rss": "VmRSS:", "pss": "Pss:"}[mode]
    path = "smaps_rollup" if mode == "pss" else "status"
    total = 0
    for p in tree:
        try:
            for line in open(f"/proc/{p}/{path}"):
                if line.startswith(key):
                    total += int(line.split()[1])
        except OSError:
            pass
    print(f"{total} {len(tree)}")
PY
procstat() { "$PY" "$WORK/procstat.py" "$@"; }

# ratios.py SESSIONS VARIANTS OPENSSL_SIGN < "ceil ROW" / "row ROW" lines: the issue's ratios,
# each computed within one round (a system against the other and against that round's
# ceiling), then the median over rounds with the spread.
cat >"$WORK/ratios.py" <<'PY'
import statistics, sys
sessions, variants, sign = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
ceil, rows = {}, {}
for line in sys.stdin:
    kind, *f = line.split()
    if kind == "ceil" and f:
        ceil[(f[0], f[7])] = float(f[1])
    elif kind == "row" and f and f[3] != "failed":
        num = lambda x: float(x.rstrip("!")) if x not in ("-", "") else None
        rows[(f[0], f[1], f[2], f[15])] = {"e2e": num(f[3]), "cpu": num(f[9]), "p99": num(f[8])}
rounds = sorted({k[3] for k in rows} | {k[1] for k in ceil}, key=int)
def show(label, values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return
    text = f"{label}: {fmt(statistics.median(values))}"
    if len(values) > 1:
        text += f" (median of {len(values)} rounds: " + " ".join(fmt(v) for v in values) + ")"
    print(text)
def ratio(a, b):
    return a / b if a is not None and b else None
for s in sessions:
    for v in variants:
        get = lambda sysname, r, key: rows.get((sysname, v, s, r), {}).get(key)
        show(f"hato/postfix, {v}, {s} sessions, e2e",
             [ratio(get("hato", r, "e2e"), get("postfix", r, "e2e")) for r in rounds], lambda x: f"{x:.2f}x")
        show(f"hato/postfix, {v}, {s} sessions, CPU per message",
             [ratio(get("hato", r, "cpu"), get("postfix", r, "cpu")) for r in rounds], lambda x: f"{x:.2f}x")
        show(f"hato/hato-base, {v}, {s} sessions, e2e",
             [ratio(get("hato", r, "e2e"), get("hato-base", r, "e2e")) for r in rounds], lambda x: f"{x:.2f}x")
        show(f"hato/hato-base, {v}, {s} sessions, CPU per message",
             [ratio(get("hato", r, "cpu"), get("hato-base", r, "cpu")) for r in rounds], lambda x: f"{x:.2f}x")
        show(f"hato-hook/hato, {v}, {s} sessions, e2e",
             [ratio(get("hato-hook", r, "e2e"), get("hato", r, "e2e")) for r in rounds], lambda x: f"{x:.2f}x")
        show(f"hato-hook/hato, {v}, {s} sessions, CPU per message",
             [ratio(get("hato-hook", r, "cpu"), get("hato", r, "cpu")) for r in rounds], lambda x: f"{x:.2f}x")
        show(f"hato-base-hook/hato-base, {v}, {s} sessions, e2e",
             [ratio(get("hato-base-hook", r, "e2e"), get("hato-base", r, "e2e")) for r in rounds],
             lambda x: f"{x:.2f}x")
        show(f"hato-base-hook/hato-base, {v}, {s} sessions, CPU per message",
             [ratio(get("hato-base-hook", r, "cpu"), get("hato-base", r, "cpu")) for r in rounds],
             lambda x: f"{x:.2f}x")
        show(f"hato-base {v}, {s} sessions, accept p99 ms", [get("hato-base", r, "p99") for r in rounds],
             lambda x: f"{x:.2f}")
        if v == "plain":
            show(f"hato plain, {s} sessions, share of the two-hop ceiling (one-hop smtp-source/s / 2)",
                 [ratio(get("hato", r, "e2e"), ceil.get((s, r), 0) / 2) for r in rounds], lambda x: f"{100 * x:.0f}%")
        show(f"hato {v}, {s} sessions, accept p99 ms", [get("hato", r, "p99") for r in rounds], lambda x: f"{x:.2f}")
    if sign and "dkim" in variants and "plain" in variants:
        eff = []
        for r in rounds:
            p, d = rows.get(("hato", "plain", s, r), {}).get("cpu"), rows.get(("hato", "dkim", s, r), {}).get("cpu")
            if p is not None and d is not None and d > p:
                eff.append(1000 / float(sign) / (d - p))
        show(f"hato dkim, {s} sessions, signing CPU efficiency vs bare openssl rsa2048 sign "
             f"({1000 / float(sign):.2f} s/1k)", eff, lambda x: f"{100 * x:.0f}%")
PY


# dkimcheck.py DIR PUBKEY_B64: counts DKIM-Signature headers in the messages smtp-sink
# dumped (one file each; RAW=1: smtpsink_tls -d files) and verifies them with python3-dkim
# when it is installed.
cat >"$WORK/dkimcheck.py" <<'PY'
import os, sys
d, pub = sys.argv[1], sys.argv[2].encode()
try:
    import dkim
except ImportError:
    dkim = None
files = sorted(os.listdir(d))
signed = verified = 0
for name in files:
    if os.environ.get("RAW"):  # smtpsink_tls -d: the message as it came, nothing added
        msg = open(os.path.join(d, name), "rb").read()
        head = msg.split(b"\r\n\r\n", 1)[0]
        if b"\r\nDKIM-Signature:" in b"\r\n" + head:
            signed += 1
            if dkim is not None and dkim.verify(msg, dnsfunc=lambda *a, **k: b"v=DKIM1; k=rsa; p=" + pub):
                verified += 1
        continue
    lines = open(os.path.join(d, name), "rb").read().split(b"\n")
    # smtp-sink's own headers end with its three-line Received header.
    i = 0
    while i < len(lines) and not lines[i].startswith(b"Received:"):
        i += 1
    i += 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    msg = b"\r\n".join(lines[i:])
    head = msg.split(b"\r\n\r\n", 1)[0]
    if b"\r\nDKIM-Signature:" in b"\r\n" + head or head.startswith(b"DKIM-Signature:"):
        signed += 1
        if dkim is not None:
            txt = b"v=DKIM1; k=rsa; p=" + pub
            if dkim.verify(msg, dnsfunc=lambda *a, **k: txt):
                verified += 1
print(f"{len(files)} {signed} {verified if dkim else '-'}")
PY

build_tools() {
  cat >"$WORK/smtpload.c" <<'C'
/* smtpload - the load generator of bench/compare.sh (written out and compiled by it).
 *   smtpload load -s S -m N -l BYTES -f FROM -t TO [-r] HOST:PORT
 *       S parallel sessions send N messages with a BYTES body, one connection per
 *       message (-r: sessions keep their connection). For every message the time from
 *       writing the final "." to reading the 250. Prints one line:
 *       ok= failed= seconds= rate= p50_ms= p90_ms= p99_ms= max_ms= t0= t1=
 *   smtpload idle -n N [-a A] [-w SECONDS] HOST:PORT
 *       N connections that read the greeting and then idle, from A source addresses
 *       127.0.1.1-A (default: 127.0.0.1); prints "established=E failed=F seconds=T",
 *       holds them until stdin reaches EOF or W seconds pass.
 *   smtpload wait FILE TARGET TIMEOUT
 *       Follows smtp-sink -c output in FILE until mesg= reaches TARGET; prints
 *       "done REALTIME COUNT", or "stalled REALTIME COUNT" after TIMEOUT s without progress.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void die(const char *what) {
  fprintf(stderr, "smtpload: %s: %s\n", what, strerror(errno));
  exit(1);
}

static struct sockaddr_in target;
static void parse_target(const char *s) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) {
    fprintf(stderr, "smtpload: bad HOST:PORT %s\n", s);
    exit(2);
  }
  memcpy(host, s, colon - s);
  host[colon - s] = 0;
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  target.sin_port = htons(atoi(colon + 1));
  if (inet_pton(AF_INET, host, &target.sin_addr) != 1) {
    fprintf(stderr, "smtpload: bad address %s\n", host);
    exit(2);
  }
}

enum { ST_CONNECT, ST_GREETING, ST_EHLO, ST_MAIL, ST_RCPT, ST_DATA, ST_DOT, ST_QUIT, ST_IDLE };

struct conn {
  int fd;
  int state;
  int in_message;
  double t_dot;
  char rbuf[8192];
  size_t rlen;
  const char *wptr;
  size_t wlen;
  char line[600];
};

static int epfd;
static char *message;
static size_t message_len;
static const char *from_addr, *to_addr;
static long total, claimed, ok, failed, done_msgs;
static int reuse;
static double *lat;
static long nlat;

static void set_events(struct conn *c, uint32_t ev) {
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl mod");
}

/* src > 0: bind to 127.0.1.src first, so that many clients are many addresses */
static int open_conn_from(struct conn *c, int src) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (src > 0) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x7f000100u + (uint32_t)src);
    if (bind(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
      close(c->fd);
      c->fd = -1;
      return -1;
    }
  }
  c->state = ST_CONNECT;
  c->rlen = 0;
  c->wlen = 0;
  if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0) die("epoll_ctl add");
  return 0;
}
static int open_conn(struct conn *c) { return open_conn_from(c, 0); }

static void close_conn(struct conn *c) {
  if (c->fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
  }
}

/* 1 when everything is written, 0 when waiting for EPOLLOUT, -1 on error. */
static int flush_out(struct conn *c) {
  while (c->wlen > 0) {
    ssize_t n = write(c->fd, c->wptr, c->wlen);
    if (n < 0) {
      if (errno == EAGAIN) {
        set_events(c, EPOLLIN | EPOLLOUT);
        return 0;
      }
      if (errno == EINTR) continue;
      return -1;
    }
    c->wptr += n;
    c->wlen -= n;
  }
  if (c->state == ST_DOT) c->t_dot = mono();
  set_events(c, EPOLLIN);
  return 1;
}
static int send_str(struct conn *c, const char *s, size_t n) {
  c->wptr = s;
  c->wlen = n;
  return flush_out(c);
}
static int send_cmd(struct conn *c, int next_state, const char *fmt, const char *arg) {
  int n = snprintf(c->line, sizeof c->line, fmt, arg);
  c->state = next_state;
  return send_str(c, c->line, n);
}

static void next_or_finish(struct conn *c, int was_error) {
  for (;;) {
    if (c->in_message && was_error) {
      failed++;
      done_msgs++;
    }
    c->in_message = 0;
    close_conn(c);
    if (claimed >= total) return;
    claimed++;
    c->in_message = 1;
    if (open_conn(c) == 0) return;
    was_error = 1;
  }
}

static int start_mail(struct conn *c) { return send_cmd(c, ST_MAIL, "MAIL FROM:<%s>\r\n", from_addr); }

static int on_reply(struct conn *c, int code) {
  switch (c->state) {
    case ST_GREETING:
      if (code != 220) return -1;
      return send_cmd(c, ST_EHLO, "EHLO %s\r\n", "smtpload.example.test");
    case ST_EHLO:
      if (code != 250) return -1;
      return start_mail(c);
    case ST_MAIL:
      if (code != 250) return -1;
      return send_cmd(c, ST_RCPT, "RCPT TO:<%s>\r\n", to_addr);
    case ST_RCPT:
      if (code != 250) return -1;
      return send_cmd(c, ST_DATA, "%s", "DATA\r\n");
    case ST_DATA:
      if (code != 354) return -1;
      c->state = ST_DOT;
      return send_str(c, message, message_len);
    case ST_DOT:
      if (code != 250) return -1;
      lat[nlat++] = mono() - c->t_dot;
      ok++;
      done_msgs++;
      c->in_message = 0;
      if (reuse && claimed < total) {
        claimed++;
        c->in_message = 1;
        return start_mail(c);
      }
      return send_cmd(c, ST_QUIT, "%s", "QUIT\r\n");
    case ST_QUIT:
      return -2;
  }
  return -1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double pct(double p) {
  if (nlat == 0) return 0;
  long i = (long)(p * (nlat - 1) + 0.5);
  return lat[i] * 1000;
}

/* Headers like smtp-source's, then BYTES of body in 80-byte lines, then ".". */
static void build_message(long size) {
  char hdr[1024];
  char date[64];
  time_t t = time(NULL);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", gmtime(&t));
  int h = snprintf(hdr, sizeof hdr,
                   "From: <%s>\r\nTo: <%s>\r\nSubject: compare.sh load\r\nDate: %s\r\n"
                   "Message-ID: <%ld.%d@smtpload.example.test>\r\n\r\n",
                   from_addr, to_addr, date, (long)t, (int)getpid());
  message = malloc(h + size + 200);
  memcpy(message, hdr, h);
  size_t n = h;
  long body = 0;
  int line = 0;
  while (body < size) {
    long want = size - body;
    if (want > 80) want = 80;
    long text = want - 2 > 0 ? want - 2 : 1;
    message[n] = '0' + (line++ % 10);
    memset(message + n + 1, 'X', text - 1);
    n += text;
    message[n++] = '\r';
    message[n++] = '\n';
    body += text + 2;
  }
  memcpy(message + n, ".\r\n", 3);
  message_len = n + 3;
}

static int do_load(int argc, char **argv) {
  long sessions = 20, size = 4096;
  int opt;
  from_addr = "from@example.test";
  to_addr = "to@example.test";
  total = 1000;
  while ((opt = getopt(argc, argv, "s:m:l:f:t:r")) != -1) {
    switch (opt) {
      case 's': sessions = atol(optarg); break;
      case 'm': total = atol(optarg); break;
      case 'l': size = atol(optarg); break;
      case 'f': from_addr = optarg; break;
      case 't': to_addr = optarg; break;
      case 'r': reuse = 1; break;
      default: return 2;
    }
  }
  if (optind >= argc) return 2;
  parse_target(argv[optind]);
  build_message(size);
  lat = calloc(total + 1, sizeof *lat);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (sessions > total) sessions = total;
  struct conn *conns = calloc(sessions, sizeof *conns);
  double t0 = mono(), w0 = wall(), last_progress = t0;
  for (long i = 0; i < sessions; i++) {
    conns[i].fd = -1;
    next_or_finish(&conns[i], 0);
  }
  struct epoll_event evs[256];
  long last_done = 0;
  while (done_msgs < total) {
    int n = epoll_wait(epfd, evs, 256, 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    double now = mono();
    if (done_msgs != last_done) {
      last_done = done_msgs;
      last_progress = now;
    }
    if (now - last_progress > 60) {
      fprintf(stderr, "smtpload: no progress for 60 s (%ld of %ld done)\n", done_msgs, total);
      break;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      int r = 0;
      if (c->fd < 0) continue;
      if (c->state == ST_CONNECT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
          next_or_finish(c, 1);
          continue;
        }
        c->state = ST_GREETING;
        set_events(c, EPOLLIN);
        continue;
      }
      if ((evs[i].events & EPOLLOUT) && c->wlen > 0) {
        if (flush_out(c) < 0) {
          next_or_finish(c, 1);
          continue;
        }
      }
      if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t got = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        next_or_finish(c, c->state != ST_QUIT);
        continue;
      }
      c->rlen += got;
      size_t start = 0;
      for (;;) {
        char *nl = memchr(c->rbuf + start, '\n', c->rlen - start);
        if (!nl) break;
        size_t len = nl - (c->rbuf + start);
        const char *ln = c->rbuf + start;
        start += len + 1;
        if (len >= 3 && (len == 3 || ln[3] == ' ' || ln[3] == '\r')) {
          r = on_reply(c, atoi(ln));
          if (r < 0) break;
        }
      }
      if (r == -2) {
        next_or_finish(c, 0);
        continue;
      }
      if (r < 0) {
        if (c->in_message && failed < 5)
          fprintf(stderr, "smtpload: unexpected reply in state %d: %.*s\n", c->state,
                  (int)(c->rlen > 200 ? 200 : c->rlen), c->rbuf);
        next_or_finish(c, 1);
        continue;
      }
      memmove(c->rbuf, c->rbuf + start, c->rlen - start);
      c->rlen -= start;
      if (c->rlen == sizeof c->rbuf) c->rlen = 0;
    }
  }
  double secs = mono() - t0, w1 = wall();
  qsort(lat, nlat, sizeof *lat, cmp_double);
  printf("ok=%ld failed=%ld seconds=%.3f rate=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
         "max_ms=%.2f t0=%.6f t1=%.6f\n",
         ok, failed, secs, ok / secs, pct(0.50), pct(0.90), pct(0.99),
         nlat ? lat[nlat - 1] * 1000 : 0.0, w0, w1);
  return ok == total ? 0 : 1;
}

static int do_idle(int argc, char **argv) {
  long want = 10000, wait_s = 600, sources = 0;
  int opt;
  while ((opt = getopt(argc, argv, "n:w:a:")) != -1) {
    switch (opt) {
      case 'n': want = atol(optarg); break;
      case 'w': wait_s = atol(optarg); break;
      case 'a': sources = atol(optarg); break;
      default: return 2;
    }
  }
  if (optind >= argc) return 2;
  parse_target(argv[optind]);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct conn *conns = calloc(want, sizeof *conns);
  long opened = 0, pending = 0, established = 0, bad = 0;
  struct epoll_event evs[512];
  double t0 = mono();
  while (established + bad < want && mono() - t0 < 120) {
    /* at most 256 handshakes in flight: stay inside the listen backlog */
    while (opened < want && pending < 256) {
      struct conn *c = &conns[opened];
      int src = sources > 0 ? (int)(1 + opened % sources) : 0;
      opened++;
      if (open_conn_from(c, src) < 0) {
        bad++;
        continue;
      }
      pending++;
    }
    int n = epoll_wait(epfd, evs, 512, 1000);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->state == ST_CONNECT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
          close_conn(c);
          pending--;
          bad++;
          continue;
        }
        c->state = ST_GREETING;
        set_events(c, EPOLLIN);
        continue;
      }
      if (c->state != ST_GREETING) continue;
      ssize_t got = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen - 1);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        close_conn(c);
        pending--;
        bad++;
        continue;
      }
      c->rlen += got;
      if (memchr(c->rbuf, '\n', c->rlen)) {
        pending--;
        if (strncmp(c->rbuf, "220", 3) == 0) {
          established++;
          c->state = ST_IDLE;
          epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL); /* it just sits there now */
        } else {
          close_conn(c);
          bad++;
        }
      }
    }
  }
  printf("established=%ld failed=%ld seconds=%.2f\n", established, want - established,
         mono() - t0);
  fflush(stdout);
  struct pollfd p = {.fd = 0, .events = POLLIN};
  double until = mono() + wait_s;
  char buf[256];
  while (mono() < until) {
    if (poll(&p, 1, 1000) > 0 && read(0, buf, sizeof buf) <= 0) break;
  }
  return 0;
}

static long sink_count(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -1;
  char buf[512];
  off_t off = st.st_size > (off_t)sizeof buf - 1 ? st.st_size - (off_t)(sizeof buf - 1) : 0;
  ssize_t n = pread(fd, buf, sizeof buf - 1, off);
  if (n <= 0) return 0;
  buf[n] = 0;
  long count = 0;
  char *p = buf, *m;
  while ((m = strstr(p, "mesg=")) != NULL) {
    count = atol(m + 5);
    p = m + 5;
  }
  return count;
}

static int do_wait(int argc, char **argv) {
  if (argc < 4) return 2;
  long target_n = atol(argv[2]);
  double timeout = atof(argv[3]);
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(argv[1]);
  long last = -1;
  double last_change = mono();
  for (;;) {
    long n = sink_count(fd);
    double now = mono();
    if (n >= target_n) {
      printf("done %.6f %ld\n", wall(), n);
      return 0;
    }
    if (n != last) {
      last = n;
      last_change = now;
    }
    if (now - last_change > timeout) {
      printf("stalled %.6f %ld\n", wall(), n);
      return 1;
    }
    usleep(10000);
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int r = 2;
  if (argc >= 2 && strcmp(argv[1], "load") == 0) r = do_load(argc - 1, argv + 1);
  else if (argc >= 2 && strcmp(argv[1], "idle") == 0) r = do_idle(argc - 1, argv + 1);
  else if (argc >= 2 && strcmp(argv[1], "wait") == 0) r = do_wait(argc - 1, argv + 1);
  if (r == 2)
    fprintf(stderr,
            "usage: smtpload load -s S -m N -l BYTES -f FROM -t TO [-r] HOST:PORT\n"
            "       smtpload idle -n N [-a A] [-w SECONDS] HOST:PORT\n"
            "       smtpload wait SINKLOG TARGET TIMEOUT\n");
  return r;
}
C
  cc -O2 -Wall -o "$WORK/smtpload" "$WORK/smtpload.c"
  if has "$PARTS" scale; then
    for f in "$BUILD/queue/libhato_queue.a" "$BUILD/common/libhato_common.a"; do
      [ -e "$f" ] || { echo "compare.sh: $f missing (ninja -C $BUILD hato)" >&2; exit 2; }
    done
    c++ -std=c++20 -O2 -I"$ROOT" "$HERE/queue_fill.cc" -o "$WORK/queue_fill" \
      "$BUILD/queue/libhato_queue.a" "$BUILD/common/libhato_common.a" \
      -lrocksdb $(pkg-config --libs libevent_pthreads libevent) -lpthread
  fi
}
SMTPLOAD="$WORK/smtpload"

# --- keys, certificates ------------------------------------------------------------------------
make_keys() {
  mkdir -p "$WORK/keys"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$WORK/keys/tls.key" -out "$WORK/keys/tls.crt" >/dev/null 2>&1
  # The webhook receiver's certificate (hato-hook), for https://127.0.0.1, and the secret.
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$WORK/keys/hook.key" -out "$WORK/keys/hook.crt" >/dev/null 2>&1
  head -c 32 /dev/urandom | base64 >"$WORK/keys/hook.secret"
  # One DKIM key (rsa 2048) for both systems, made by Hato's own keygen.
  "$HATO" dkim keygen --domain example.test --selector s1 --algorithm rsa-sha256 --bits 2048 \
    --out "$WORK/keys/dkim.pem" >/dev/null 2>&1
  DKIM_PUB=$(openssl pkey -in "$WORK/keys/dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
}

# --- the sink ----------------------------------------------------------------------------------
SINK_PID=""; SINK_LOG=""
start_sink() {  # start_sink PORT LOG [DUMPDIR]: a counting smtp-sink (-c), dumping with DUMPDIR
  local port=$1 dump=()
  SINK_LOG=$2
  if [ -n "${3:-}" ]; then
    mkdir -p "$3"; chown nobody "$3"
    dump=(-d "$3/%H%M%S.")
  fi
  "$SMTP_SINK" -u nobody -c "${dump[@]}" "127.0.0.1:$port" 1000 >"$SINK_LOG" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  wait_port "$port"
}
stop_sink() {
  [ -n "$SINK_PID" ] || return 0
  kill "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
  forget_pid "$SINK_PID"
  SINK_PID=""
}
sink_count() {
  local n
  n=$(tail -c 300 "$SINK_LOG" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true)
  echo "${n:-0}"
}

# --- Hato ---------------------------------------------------------------------------------------
RELAY_PORT=""; RELAY_ROOTS=""; HATO_PID=""; HATO_CONF=""; HATO_T_EXEC=""
HOOK_PORT=""; HOOK_PID=""
start_hook() {  # start_hook DIR: the webhook receiver for hato-hook, counting into DIR/hook.count
  HOOK_PORT=$(free_port)
  echo 0 >"$1/hook.count"
  "$PY" "$HERE/hookrecv.py" "$HOOK_PORT" "$WORK/keys/hook.crt" "$WORK/keys/hook.key" \
    "$1/hook.count" >"$1/hook.log" 2>&1 &
  HOOK_PID=$!
  PIDS+=("$HOOK_PID")
  wait_port "$HOOK_PORT"
}
stop_hook() {  # stop_hook DIR: waits (up to 60 s) for Hato's backlog to drain, then reports
  local dir=$1 backlog="" t0; t0=$(now)
  for _ in $(seq 600); do
    backlog=$(hato_metric "$dir" 'hato_webhook_backlog{')
    [ "${backlog:-1}" = 0 ] && break
    sleep 0.1
  done
  log "   webhook: $(cat "$dir/hook.count") events received, backlog ${backlog:-?}" \
    "$(elapsed "$t0" "$(now)") s after the load (sent $(hato_metric "$dir" 'hato_webhook_events_total{hook="https://127.0.0.1:'"$HOOK_PORT"'/hook",result="sent"}'))"
  kill "$HOOK_PID" 2>/dev/null || true
  wait "$HOOK_PID" 2>/dev/null || true
  forget_pid "$HOOK_PID"
  HOOK_PID=""; HOOK_PORT=""
}
start_hato() {  # start_hato DIR VARIANT SINKPORT: data in DIR/data (may be pre-filled)
  local dir=$1 variant=$2 sink_port=$3 dkim=""
  # real (the part `real`): STARTTLS and AUTH on the listener, DKIM, STARTTLS to the sink.
  local listener='tls: none,
     trusted_networks: ["127.0.0.0/8"]' outbound=none
  [ "$variant" != real ] || { listener="tls: starttls"; outbound=starttls; }
  mkdir -p "$dir/data"
  : >"$dir/users"
  if [ "$variant" = dkim ] || [ "$variant" = real ]; then
    dkim="
    dkim:
      - {selector: s1, algorithm: rsa-sha256, key: \"$WORK/keys/dkim.pem\"}"
  fi
  local hook=""
  if [ -n "${HOOK_PORT:-}" ]; then
    hook="
  ca_file: \"$WORK/keys/hook.crt\"
events:
  webhooks:
    - {url: \"https://127.0.0.1:$HOOK_PORT/hook\", secret_file: \"$WORK/keys/hook.secret\",
       batch: 100, timeout: 10s}"
  fi
  HATO_CONF="$dir/hato.yaml"
  cat >"$HATO_CONF" <<EOF
hostname: bench.example.test
data_dir: "$dir/data"
users_file: "$dir/users"
tls: {certificate: "$WORK/keys/tls.crt", key: "$WORK/keys/tls.key"}
admin: {metrics: "127.0.0.1:0"}
listeners:
  - {name: bench, address: "127.0.0.1:0", role: submission, $listener}
domains:
  - name: example.test$dkim
dns: {servers: ["127.0.0.1:9"]}
delivery:
  smarthost: {host: "127.0.0.1", port: $sink_port, tls: $outbound}$hook
limits:
  max_message_size: "10M"
  max_connections: 20000
EOF
  if [ "$variant" = real ]; then
    "$HATO" user add "$REAL_USER" --password-stdin -c "$HATO_CONF" <<<"$REAL_PASSWORD" >"$dir/user-add.log" 2>&1 ||
      { echo "compare.sh: hato user add failed:" >&2; cat "$dir/user-add.log" >&2; exit 1; }
  fi
  : >"$dir/hato.log"
  HATO_T_EXEC=$(now)
  "$HATO" serve -c "$HATO_CONF" >"$dir/hato.log" 2>&1 &
  HATO_PID=$!
  PIDS+=("$HATO_PID")
  RELAY_PORT=""
  for _ in $(seq 6000); do   # up to 5 minutes: a big queue is read at start
    RELAY_PORT=$(sed -n 's/.*listening listener=bench address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/hato.log" | head -1 || true)
    [ -n "$RELAY_PORT" ] && grep -q ' started ' "$dir/hato.log" && break
    kill -0 "$HATO_PID" 2>/dev/null || { echo "compare.sh: hato exited:" >&2; tail "$dir/hato.log" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$RELAY_PORT" ] || { echo "compare.sh: hato did not start" >&2; tail "$dir/hato.log" >&2; exit 1; }
  RELAY_ROOTS=$HATO_PID
  if [ -n "${PERF:-}" ]; then   # PERF=1: profile Hato (perf record -g), for reading, not for the table
    perf record -q -g -p "$HATO_PID" -o "$dir/perf.data" >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.5
  fi
}
hato_metric() {  # hato_metric DIR NAME: the value of a metric line starting with NAME
  local addr
  addr=$(grep -o 'metrics listening address=[0-9.:]*' "$1/hato.log" | head -1 | cut -d= -f2 || true)
  curl -sf "http://$addr/metrics" 2>/dev/null | awk -v n="$2" 'index($0, n) == 1 { printf "%d\n", $2; exit }' || true
}
stop_hato() {
  [ -n "$HATO_PID" ] || return 0
  if [ -n "${PERF_PID:-}" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
    log "   profile: perf report -i $dir/perf.data"
  fi
  kill -TERM "$HATO_PID" 2>/dev/null || true
  local rc=0; wait "$HATO_PID" || rc=$?
  [ "$rc" = 0 ] || log "note: hato exited $rc on SIGTERM"
  forget_pid "$HATO_PID"
  HATO_PID=""
}

# --- Postfix (+ OpenDKIM) ---------------------------------------------------------------------
OPENDKIM_PID=""
start_opendkim() {  # start_opendkim DIR -> milter on 127.0.0.1:$MILTER_PORT
  local d=$1
  mkdir -p "$d"
  cp "$WORK/keys/dkim.pem" "$d/s1.pem"
  chown opendkim "$d" "$d/s1.pem"; chmod 600 "$d/s1.pem"
  MILTER_PORT=$(free_port)
  echo "s1._domainkey.example.test example.test:s1:$d/s1.pem" >"$d/keytable"
  echo "*@example.test s1._domainkey.example.test" >"$d/signingtable"
  cat >"$d/opendkim.conf" <<EOF
Mode                s
Syslog              no
UserID              opendkim
UMask               007
Socket              inet:$MILTER_PORT@127.0.0.1
PidFile             $d/opendkim.pid
KeyTable            $d/keytable
SigningTable        refile:$d/signingtable
InternalHosts       127.0.0.0/8
Canonicalization    relaxed/relaxed
SignatureAlgorithm  rsa-sha256
OversignHeaders     From
# The key sits below \$TMPDIR, which others can write: OpenDKIM refuses such a path by default.
RequireSafeKeys     false
EOF
  /usr/sbin/opendkim -f -x "$d/opendkim.conf" >"$d/opendkim.log" 2>&1 &
  OPENDKIM_PID=$!
  PIDS+=("$OPENDKIM_PID")
  wait_port "$MILTER_PORT" || { cat "$d/opendkim.log" >&2; exit 1; }
}
stop_opendkim() {
  [ -n "$OPENDKIM_PID" ] || return 0
  kill "$OPENDKIM_PID" 2>/dev/null || true
  wait "$OPENDKIM_PID" 2>/dev/null || true
  forget_pid "$OPENDKIM_PID"
  OPENDKIM_PID=""
}

PF_DIR=""
start_postfix() {  # start_postfix DIR VARIANT SINKPORT
  local P=$1 variant=$2 sink_port=$3 milters="" step master=""
  PF_DIR=$P
  RELAY_PORT=$(free_port)
  mkdir -p "$P/etc" "$P/spool" "$P/data"
  chown postfix "$P/data"
  cp /etc/postfix/dynamicmaps.cf "$P/etc/" 2>/dev/null || true
  # smtpd on our port instead of :25, no chroot (the chroot would be our spool dir without
  # the etc/ files a chroot needs); everything else as shipped.
  awk -v port="$RELAY_PORT" '
    /^smtp[ \t]+inet[ \t]/ { $1 = "127.0.0.1:" port; $5 = "n"; print; next }
    /^[a-z]/ && NF >= 8 && $5 == "y" { $5 = "n"; print; next }
    { print }' /etc/postfix/master.cf >"$P/etc/master.cf"
  if [ "$variant" = dkim ] || [ "$variant" = real ]; then
    start_opendkim "$P/opendkim"
    milters="smtpd_milters = inet:127.0.0.1:$MILTER_PORT
non_smtpd_milters = \$smtpd_milters"
  fi
  # real: STARTTLS and Dovecot SASL on smtpd, TLS to the sink (bench/compare_real.sh).
  if [ "$variant" = real ]; then
    start_dovecot "$P/dovecot"
    milters="$milters
$(postfix_real_conf "$P")"
  fi
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
relayhost = [127.0.0.1]:$sink_port
maillog_file_prefixes = $P
maillog_file = $P/maillog
syslog_name = postfix-compare
$milters
EOF
  for step in check start; do
    /usr/sbin/postfix -c "$P/etc" $step >"$P/$step.log" 2>&1 || {
      echo "compare.sh: postfix $step failed:" >&2
      cat "$P/$step.log" >&2; tail -5 "$P/maillog" >&2 2>/dev/null; exit 1; }
  done
  POSTFIX_CONF="$P/etc"
  for _ in $(seq 100); do
    master=$(tr -dc 0-9 <"$P/spool/pid/master.pid" 2>/dev/null || true)
    [ -n "$master" ] && break
    sleep 0.05
  done
  wait_port "$RELAY_PORT"
  RELAY_ROOTS="$master${OPENDKIM_PID:+ $OPENDKIM_PID}${DOVECOT_PID:+ $DOVECOT_PID}"
}
stop_postfix() {
  [ -n "$PF_DIR" ] || return 0
  local master
  master=$(tr -dc 0-9 <"$PF_DIR/spool/pid/master.pid" 2>/dev/null || true)
  /usr/sbin/postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1 || true
  POSTFIX_CONF=""
  for _ in $(seq 100); do
    [ -n "$master" ] && kill -0 "$master" 2>/dev/null || break
    sleep 0.1
  done
  stop_opendkim
  stop_dovecot
  PF_DIR=""
}

# --- one timed run -------------------------------------------------------------------------------
# timed_run TOOL PORT SESSIONS N TARGET NAME: TOOL is smtp-source or smtpload; waits until the
# sink counted TARGET. Sets R_ACCEPT_S R_E2E_S R_CPU R_DELIVERED R_LAT (smtpload's line).
timed_run() {
  local tool=$1 port=$2 sessions=$3 n=$4 target=$5 name=$6 t0 t1 cpu0="" cpu1 waiter rc=0 w
  [ -n "$RELAY_ROOTS" ] && cpu0=$(procstat cpu $RELAY_ROOTS | cut -d' ' -f1)
  "$SMTPLOAD" wait "$SINK_LOG" "$target" "$TIMEOUT" >"$WORK/$name.wait" &
  waiter=$!
  t0=$(now)
  if [ "$tool" = smtp-source ]; then
    "$SMTP_SOURCE" "${REUSE[@]}" -s "$sessions" -m "$n" -l "$SIZE" -f "$FROM" -t "$TO" "127.0.0.1:$port" \
      >"$WORK/$name.log" 2>&1 || rc=$?
    R_LAT=""
  else
    "$SMTPLOAD" load -s "$sessions" -m "$n" -l "$SIZE" -f "$FROM" -t "$TO" "127.0.0.1:$port" \
      >"$WORK/$name.log" 2>&1 || rc=$?
    R_LAT=$(grep '^ok=' "$WORK/$name.log" || true)
  fi
  t1=$(now)
  [ "$rc" = 0 ] || { log "note: $tool ($name) exited $rc:"; tail -3 "$WORK/$name.log" >&2; }
  wait "$waiter" || true
  read -r w R_DONE_AT R_DELIVERED <"$WORK/$name.wait" || { w=stalled; R_DONE_AT=$(now); R_DELIVERED=0; }
  [ "$w" = done ] || { log "note: $name: the sink has $R_DELIVERED of $target (stalled ${TIMEOUT}s)"; R_DELIVERED="$R_DELIVERED!"; }
  R_ACCEPT_S=$(elapsed "$t0" "$t1")
  R_E2E_S=$(elapsed "$t0" "$R_DONE_AT")
  R_CPU=""
  if [ -n "$cpu0" ]; then
    sleep 0.3   # let the last removals land
    cpu1=$(procstat cpu $RELAY_ROOTS | cut -d' ' -f1)
    R_CPU=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$n" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }')
  fi
}
REUSE=()   # smtp-source -d (connections reused): only for the ceiling's second line
field() {  # field LINE KEY: the value of KEY=VALUE in LINE, or "-"
  local v; v=$(printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p")
  echo "${v:--}"
}
rate() { awk -v n="${1%!}" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'; }
dash() { echo "${1:--}"; }

# --- the table -------------------------------------------------------------------------------
ROWS=()     # system variant sessions e2e/s acc/s lg-acc/s lg-e2e/s p50 p99 cpu rss(KiB) check
run_cell() {  # run_cell SYSTEM VARIANT SESSIONS
  local sys=$1 variant=$2 sessions=$3 name="$1-$2-$3" dir port sink_port check="-"
  local label=$sys   # the row's name; hato-base runs as hato with the other binary
  local hook=""
  if [ "$sys" = hato-base ]; then HATO=$HATO_BASE; sys=hato; else HATO=$HATO_NEW; fi
  if [ "$sys" = hato-base-hook ]; then HATO=$HATO_BASE; sys=hato-hook; fi
  if [ "$sys" = hato-hook ]; then hook=1; sys=hato; fi
  dir="$WORK/$name"
  mkdir -p "$dir"
  [ -z "$hook" ] || start_hook "$dir"
  log "== $label $variant, $sessions sessions"
  sink_port=$(free_port)
  # 1. warm-up and check: W messages into a sink that dumps each one
  start_sink "$sink_port" "$dir/check-sink.log" "$dir/dump"
  RELAY_ROOTS=""
  if [ "$sys" = hato ]; then start_hato "$dir" "$variant" "$sink_port"; else start_postfix "$dir" "$variant" "$sink_port"; fi
  port=$RELAY_PORT
  "$SMTPLOAD" load -s 10 -m "$WARMUP" -l "$SIZE" -f "$FROM" -t "$TO" "127.0.0.1:$port" >"$dir/warmup.log" 2>&1 ||
    { log "note: warm-up into $sys: $(tail -1 "$dir/warmup.log")"; }
  local warm_ok=1
  "$SMTPLOAD" wait "$SINK_LOG" "$WARMUP" 10 >/dev/null || { warm_ok=""; log "note: warm-up: the sink has $(sink_count) of $WARMUP"; }
  stop_sink
  read -r dumped signed verified < <("$PY" "$WORK/dkimcheck.py" "$dir/dump" "$DKIM_PUB")
  if [ "$variant" = dkim ]; then
    check="$signed/$dumped"; [ "$verified" = - ] || check="$check,ok=$verified"
  else
    check="$signed/$dumped"
  fi
  rm -rf "$dir/dump"
  if [ -z "$warm_ok" ]; then
    log "   skipped: the warm-up did not get through (logs: KEEP=1, $dir)"
    ROWS+=("$label $variant $sessions failed - - - - - - 0 $check 0 - 0 $ROUND")
    [ -z "$hook" ] || stop_hook "$dir"
    if [ "$sys" = hato ]; then stop_hato; else stop_postfix; fi
    return 0
  fi
  sleep 3   # both relays drop idle connections to the sink after 2 s
  # 2. the timed runs into a fresh counting sink on the same port
  start_sink "$sink_port" "$dir/sink.log"
  timed_run smtp-source "$port" "$sessions" "$MESSAGES" "$MESSAGES" "$name.source"
  local e2e acc cpu delivered=$R_DELIVERED
  e2e=$(rate "$R_DELIVERED" "$R_E2E_S"); acc=$(rate "$MESSAGES" "$R_ACCEPT_S"); cpu=$R_CPU
  timed_run smtpload "$port" "$sessions" "$LAT_MESSAGES" "$((MESSAGES + LAT_MESSAGES))" "$name.load"
  local lat=$R_LAT lg_acc lg_e2e lg_cpu=$R_CPU
  lg_acc=$(rate "$(field "$lat" ok)" "$(field "$lat" seconds)")
  lg_e2e=$(rate "$LAT_MESSAGES" "$R_E2E_S")
  local rss pss
  rss=$(procstat hwm $RELAY_ROOTS)
  pss=$(procstat pss $RELAY_ROOTS | cut -d' ' -f1)
  if [ "$sys" = hato ]; then
    local left signatures
    left=$(hato_metric "$dir" 'hato_queue_messages{state="waiting"}')
    [ "${left:-0}" = 0 ] || log "note: hato still holds ${left} waiting messages"
    # Group commit at work over the whole cell: queue changes (inserts and removals) per sync.
    local changes syncs
    changes=$(hato_metric "$dir" 'hato_queue_commit_changes_total')
    syncs=$(hato_metric "$dir" 'hato_queue_commit_syncs_total')
    [ "${syncs:-0}" -gt 0 ] && log "   group commit: ${changes} queue changes in ${syncs} synced writes" \
      "($(awk -v c="$changes" -v s="$syncs" 'BEGIN { printf "%.1f", c / s }') per sync)"
    # Where Hato's CPU went, by thread name, over the whole cell (warm-up and both loads):
    # the loop's share of a core is its figure times the e2e rate.
    local per_thread
    per_thread=$(for t in /proc/"$HATO_PID"/task/*; do
      printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(sed 's/^.*) //' "$t/stat" | awk '{ print $12 + $13 }')"
    done 2>/dev/null | awk -v n="$((WARMUP + MESSAGES + LAT_MESSAGES))" -v hz="$(getconf CLK_TCK)" '
      { cpu[$1] += $2 } END { for (c in cpu) if (cpu[c] > 0) printf "%s %.3f, ", c, cpu[c] / hz * 1000 / n }')
    log "   CPU s/1k by thread over the cell: ${per_thread%, }"
    if [ "$variant" = dkim ]; then
      # Every message of the cell, not just the checked sample, by Hato's own count.
      signatures=$(hato_metric "$dir" 'hato_dkim_signatures_total')
      [ "${signatures:-0}" = "$((WARMUP + MESSAGES + LAT_MESSAGES))" ] && check="$check,all" ||
        log "note: hato_dkim_signatures_total ${signatures:-?}, messages $((WARMUP + MESSAGES + LAT_MESSAGES))"
    fi
    [ -z "$hook" ] || stop_hook "$dir"
    stop_hato
  else
    if [ -n "$OPENDKIM_PID" ] && ! kill -0 "$OPENDKIM_PID" 2>/dev/null; then
      local odrc=0; wait "$OPENDKIM_PID" 2>/dev/null || odrc=$?
      log "note: opendkim (pid $OPENDKIM_PID) died during the cell, exit status $odrc; its output:"
      tail -5 "$dir/opendkim/opendkim.log" >&2
      forget_pid "$OPENDKIM_PID"; OPENDKIM_PID=""
      check="$check,milter-died"
    fi
    stop_postfix
  fi
  sleep 0.5
  local total; total=$(sink_count)
  [ "$total" = "$((MESSAGES + LAT_MESSAGES))" ] || log "note: the sink counted $total, expected $((MESSAGES + LAT_MESSAGES))"
  stop_sink
  [[ "$delivered" == *! ]] && e2e="$e2e!"
  ROWS+=("$label $variant $sessions $e2e $acc $lg_acc $lg_e2e $(field "$lat" p50_ms) $(field "$lat" p99_ms) $(dash "$cpu") ${rss% *} $check ${rss#* } $(dash "$lg_cpu") $pss $ROUND")
  log "   e2e $e2e/s, accept $acc/s (smtp-source); smtpload accept $lg_acc/s, e2e $lg_e2e/s," \
    "p50 $(field "$lat" p50_ms) ms, p99 $(field "$lat" p99_ms) ms; CPU $cpu s/1k; peak RSS" \
    "$(( ${rss% *} / 1024 )) MiB over ${rss#* } processes (Pss now $((pss / 1024)) MiB); DKIM-signed $check"
}

# --- ceiling ------------------------------------------------------------------------------------
CEIL=()   # sessions source-rate smtpload-rate p50 p99
OPENSSL_SIGN=""
run_ceiling() {
  local s port
  for s in ${SESSIONS//,/ }; do
    log "== one hop: smtp-source -> smtp-sink, $s sessions"
    port=$(free_port)
    start_sink "$port" "$WORK/ceiling-$s.sink.log"
    RELAY_ROOTS=""
    timed_run smtp-source "$port" "$s" "$MESSAGES" "$MESSAGES" "ceiling-$s.source"
    local src; src=$(rate "$MESSAGES" "$R_ACCEPT_S")
    REUSE=(-d)
    timed_run smtp-source "$port" "$s" "$MESSAGES" "$((2 * MESSAGES))" "ceiling-$s.reuse"
    REUSE=()
    local reuse; reuse=$(rate "$MESSAGES" "$R_ACCEPT_S")
    timed_run smtpload "$port" "$s" "$LAT_MESSAGES" "$((2 * MESSAGES + LAT_MESSAGES))" "ceiling-$s.load"
    stop_sink
    CEIL+=("$s $src $reuse $((src / 2)) $(rate "$(field "$R_LAT" ok)" "$(field "$R_LAT" seconds)") $(field "$R_LAT" p50_ms) $(field "$R_LAT" p99_ms) $ROUND")
    log "   ${CEIL[-1]}"
  done
  log "== openssl speed -seconds $OPENSSL_SECONDS rsa2048"
  OPENSSL_SIGN=$(openssl speed -seconds "$OPENSSL_SECONDS" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $6 }')
  log "   rsa2048 sign/s (one core): $OPENSSL_SIGN"
}

# --- scale -----------------------------------------------------------------------------------------
SCALE_ROWS=()
run_scale() {
  local q dir sink_port fill_out t_log t_admin rss_start
  for q in ${SCALE//,/ }; do
    dir="$WORK/scale-$q"
    mkdir -p "$dir/data"
    log "== scale: $q messages queued (deferred, next attempt >= 1 h away), plain, 20 sessions"
    local frc=0
    # 0: the same run on an empty queue, the baseline the other rows are read against.
    fill_out="empty queue"
    [ "$q" = 0 ] ||
      fill_out=$("$WORK/queue_fill" --path "$dir/data/queue" --messages "$q" --size "$FILL_SIZE" --domains 1000) || frc=$?
    if [ "$frc" != 0 ]; then
      log "note: queue_fill exited $frc$([ "$frc" -gt 128 ] && echo " (signal $((frc - 128)))"); row skipped"
      SCALE_ROWS+=("$q fill-failed - - - - - - - - - - - - -")
      rm -rf "$dir/data"
      continue
    fi
    log "   $fill_out; $(du -sh "$dir/data" | cut -f1) on disk"
    sink_port=$(free_port)
    start_sink "$sink_port" "$dir/sink.log"
    RELAY_ROOTS=""
    start_hato "$dir" plain "$sink_port"
    # time to the `started` log line (its own clock, ms) and to the admin socket answering
    until "$HATO" queue ls --limit 1 --json -c "$HATO_CONF" >/dev/null 2>&1; do
      kill -0 "$HATO_PID" 2>/dev/null || { echo "compare.sh: hato died" >&2; exit 1; }
      sleep 0.02
    done
    t_admin=$(elapsed "$HATO_T_EXEC" "$(now)")
    t_log=$(awk '/ started / { print $1; exit }' "$dir/hato.log")
    t_log=$(elapsed "$HATO_T_EXEC" "$(date -d "$t_log" +%s.%N)")
    rss_start=$(procstat rss "$HATO_PID" | cut -d' ' -f1)
    local cpu_start; cpu_start=$(procstat cpu "$HATO_PID" | cut -d' ' -f1)
    sleep 3   # nothing due: the daemon should be idle now
    timed_run smtp-source "$RELAY_PORT" 20 "$MESSAGES" "$MESSAGES" "scale-$q.source"
    local e2e acc cpu delivered=$R_DELIVERED
    e2e=$(rate "$R_DELIVERED" "$R_E2E_S"); acc=$(rate "$MESSAGES" "$R_ACCEPT_S"); cpu=$R_CPU
    timed_run smtpload "$RELAY_PORT" 20 "$LAT_MESSAGES" "$((MESSAGES + LAT_MESSAGES))" "scale-$q.load"
    local lat=$R_LAT rss_end hwm waiting
    rss_end=$(procstat rss "$HATO_PID" | cut -d' ' -f1)
    hwm=$(procstat hwm "$HATO_PID" | cut -d' ' -f1)
    waiting=$(hato_metric "$dir" 'hato_queue_messages{state="waiting"}')
    stop_hato
    sleep 0.3
    local total; total=$(sink_count)
    stop_sink
    [ "$total" = "$((MESSAGES + LAT_MESSAGES))" ] ||
      log "note: the sink counted $total, expected $((MESSAGES + LAT_MESSAGES)): pre-filled mail was delivered?"
    [ "${waiting:-x}" = "$q" ] || log "note: hato's queue holds ${waiting:-?} waiting messages at the end, pre-filled $q"
    [[ "$delivered" == *! ]] && e2e="$e2e!"
    SCALE_ROWS+=("$q $t_log $t_admin $cpu_start $((rss_start / 1024)) $e2e $acc $(rate "$(field "$lat" ok)" "$(field "$lat" seconds)") $(field "$lat" p50_ms) $(field "$lat" p99_ms) $cpu $((rss_end / 1024)) $((hwm / 1024)) $((total - MESSAGES - LAT_MESSAGES)) ${waiting:-?}")
    log "   ${SCALE_ROWS[-1]}"
    rm -rf "$dir/data"
  done
}

# --- idle connections ---------------------------------------------------------------------------
IDLE_ROW=""
run_idle() {
  local dir="$WORK/idle" n=$IDLE rss0 rss1 hwm est fifo holder
  mkdir -p "$dir"
  if [ "$NOFILE" -lt $((n + 100)) ]; then
    log "note: ulimit -n is $NOFILE: idle connections cut to $((NOFILE - 100))"
    n=$((NOFILE - 100))
  fi
  log "== idle: $n connections to Hato from 100 loopback addresses that read the greeting and wait"
  RELAY_ROOTS=""
  start_hato "$dir" plain 9   # nothing is delivered here
  sleep 0.5
  rss0=$(procstat rss "$HATO_PID" | cut -d' ' -f1)
  fifo="$dir/hold"; mkfifo "$fifo"
  # From 100 addresses (127.0.1.1-100): Hato lets one address hold a tenth of
  # limits.max_connections at most, and 10,000 idle clients are many clients.
  "$SMTPLOAD" idle -n "$n" -a 100 -w 300 "127.0.0.1:$RELAY_PORT" <"$fifo" >"$dir/idle.out" 2>&1 &
  holder=$!
  PIDS+=("$holder")
  exec 9>"$fifo"   # the holder keeps its connections until this closes
  for _ in $(seq 1800); do
    grep -q established "$dir/idle.out" 2>/dev/null && break
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1
  est=$(grep -o 'established=[0-9]*' "$dir/idle.out" | cut -d= -f2 || true)
  rss1=$(procstat rss "$HATO_PID" | cut -d' ' -f1)
  hwm=$(procstat hwm "$HATO_PID" | cut -d' ' -f1)
  local conns; conns=$(hato_metric "$dir" 'hato_connections{listener="bench"}')
  exec 9>&-
  wait "$holder" 2>/dev/null || true
  forget_pid "$holder"
  stop_hato
  IDLE_ROW="$n ${est:-0} ${conns:-?} $rss0 $rss1 $hwm"
  log "   $(cat "$dir/idle.out"); hato_connections ${conns:-?}; VmRSS $((rss0 / 1024)) -> $((rss1 / 1024)) MiB"
}

# --- go --------------------------------------------------------------------------------------------
T_START=$(now)
echo "compare.sh: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
  "$(free -g | awk '/^Mem:/ { print $2 }') GiB, $(uname -r); load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "queues on $(df -T "$WORK" | awk 'NR==2 {print $2" "$1}'); hato: tree $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'), binary built $(date -r "$HATO_NEW" '+%F %T')${HATO_BASE:+, base $HATO_BASE};" \
  "postfix $(/usr/sbin/postconf -d -h mail_version 2>/dev/null), $(/usr/sbin/opendkim -V 2>&1 | head -1 | sed 's/.*Filter //'), $(openssl version | cut -d' ' -f1-2)"
! has "$PARTS" ceiling && ! has "$PARTS" table ||
  echo "load: $MESSAGES messages (smtp-source) + $LAT_MESSAGES (smtpload) of $SIZE bytes per run, one connection each; warm-up/check $WARMUP"
build_tools
make_keys

for ROUND in $(seq "$ROUNDS"); do
  [ "$ROUNDS" = 1 ] || log "=== round $ROUND of $ROUNDS"
  has "$PARTS" ceiling && run_ceiling
  if has "$PARTS" table; then
    for s in ${SESSIONS//,/ }; do
      for v in ${VARIANTS//,/ }; do
        for sys in ${SYSTEMS//,/ }; do
          run_cell "$sys" "$v" "$s"
        done
      done
    done
  fi
  if has "$PARTS" real; then run_real; fi
done
has "$PARTS" scale && run_scale
has "$PARTS" idle && run_idle

# --- report ------------------------------------------------------------------------------------------
echo
if [ ${#CEIL[@]} -gt 0 ]; then
  echo "One hop, no relay (straight into smtp-sink): the ceiling"
  printf '%-8s | %13s %13s %9s | %11s %7s %7s | %s\n' sessions "smtp-source/s" "reused (-d)/s" "half" "smtpload/s" "p50 ms" "p99 ms" round
  for row in "${CEIL[@]}"; do set -- $row; printf '%-8s | %13s %13s %9s | %11s %7s %7s | %s\n' "$@"; done
  echo "smtp-source/s: one connection per message, as in the table; reused: smtp-source -d, one"
  echo "  connection per session (what a relay's outbound hop with connection reuse costs the sink);"
  echo "  half: the issue's two-hop ceiling, smtp-source/s / 2."
  echo "openssl speed rsa2048: ${OPENSSL_SIGN:-?} sign/s on one core"
  echo
fi
if [ ${#ROWS[@]} -gt 0 ]; then
  echo "Relayed through each system to smtp-sink ($SIZE-byte messages, one connection per message)"
  printf '%-8s %-6s %4s | %8s %8s | %8s %8s %7s %7s | %8s | %10s %7s | %5s | %s\n' \
    system dkim sess "e2e/s" "acc/s" "acc/s" "e2e/s" "p50 ms" "p99 ms" "CPU s/1k" "peak RSS" "Pss" round "DKIM-signed at sink"
  printf '%-20s | %-17s | %-33s | %-8s | %-18s |\n' "" "  smtp-source" "  smtpload (latency load)" "smtp-src" "  MiB (processes)"
  for row in "${ROWS[@]}"; do
    set -- $row
    printf '%-8s %-6s %4s | %8s %8s | %8s %8s %7s %7s | %8s | %10s %7s | %5s | %s\n' \
      "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "$(( ${11} / 1024 )) (${13})" "$(( ${15} / 1024 ))" "${16}" "${12}"
  done
  echo "e2e/s: delivered (counted by the sink) / (load start to the sink's N-th message); a ! means"
  echo "  fewer than N arrived. acc/s: N / time the load generator took. p50/p99: final \".\" to 250."
  echo "CPU s/1k: CPU seconds of the relay's processes (Postfix: master and children, +opendkim"
  echo "  with dkim) per 1,000 messages over the smtp-source run. peak RSS: Hato's VmHWM; Postfix the"
  echo "  SUM of VmHWM over its processes alive at the end of the cell (+opendkim with dkim), which"
  echo "  counts shared pages once per process; Pss: the same processes' proportional set size then."
  echo "DKIM-signed: of the $WARMUP warm-up messages the sink dumped, how many carried a DKIM-Signature"
  echo "  (ok=: how many python3-dkim verified against the key; all: Hato's hato_dkim_signatures_total"
  echo "  equals every message of the cell)."
  echo
  { printf 'ceil %s\n' "${CEIL[@]}"; printf 'row %s\n' "${ROWS[@]}"; } |
    "$PY" "$WORK/ratios.py" "$SESSIONS" "$VARIANTS" "${OPENSSL_SIGN:-}"
  echo
fi
real_report
if [ ${#SCALE_ROWS[@]} -gt 0 ]; then
  echo "Hato with a pre-filled queue (deferred, none due during the run; $FILL_SIZE-byte messages), plain, 20 sessions"
  printf '%9s %8s %8s %8s %8s | %7s %7s | %7s %7s %7s | %8s | %8s %8s | %5s %9s\n' \
    queued "start s" "admin s" "CPU s" "RSS MiB" "e2e/s" "acc/s" "acc/s" "p50 ms" "p99 ms" "CPU s/1k" "RSS end" "HWM" extra "left"
  printf '%-44s | %-15s | %-23s |\n' "  start-up" "  smtp-source" "  smtpload"
  for row in "${SCALE_ROWS[@]}"; do
    set -- $row
    printf '%9s %8s %8s %8s %8s | %7s %7s | %7s %7s %7s | %8s | %8s %8s | %5s %9s\n' "$@"
  done
  echo "start s: exec to the 'started' log line; admin s: exec to \`hato queue ls --limit 1\` answering;"
  echo "  CPU s: the daemon's CPU seconds by then (the figure to trust on a busy machine);"
  echo "  RSS MiB: VmRSS then. extra: deliveries beyond the fresh load (pre-filled mail sent: must be 0);"
  echo "  left: messages waiting in the queue at the end (must equal queued)."
  echo
fi
if [ -n "$IDLE_ROW" ]; then
  set -- $IDLE_ROW
  echo "Idle connections (from 100 addresses): $2 of $1 established (Hato counts ${3}); Hato VmRSS $(( $4 / 1024 )) MiB before," \
    "$(( $5 / 1024 )) MiB with them ($(awk -v a="$4" -v b="$5" -v n="$2" 'BEGIN { printf "%.1f", n ? (b - a) / n : 0 }') KiB each), VmHWM $(( $6 / 1024 )) MiB"
fi
echo "load average at end $(cut -d' ' -f1-3 /proc/loadavg); total $(elapsed "$T_START" "$(now)") s"
