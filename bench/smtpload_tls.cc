// smtpload_tls - an SMTP load generator for real submission traffic, for benchmarks.
//
//   smtpload_tls [-s SESSIONS] [-m COUNT | -D SECONDS] [-T starttls|implicit|none]
//                [-u USER -p PASSWORD] [-P [-k PER_CONNECTION]] [-R] [-z MIX | -l BYTES]
//                [-f FROM] [-t TO] [-w STALL_SECONDS] [-S SEED] HOST:PORT
//
// SESSIONS connections at a time (default 20) send COUNT messages (default 1,000) or
// keep sending for SECONDS. Each connection: EHLO, STARTTLS (587 style, the default) or
// TLS from the first byte (-T implicit, 465 style), EHLO again, AUTH PLAIN with -u/-p,
// then MAIL, RCPT, DATA. Without -P every message has a connection of its own (QUIT
// after it); with -P each connection sends up to PER_CONNECTION messages (default 100),
// RSET between them, as nodemailer's pool does. -R offers the last TLS session (ticket)
// back to the server; without it every handshake is a full one.
// MIX is "SIZE:WEIGHT,..." (default 4k:60,40k:30,400k:10: text/plain, then
// multipart/alternative, then multipart/mixed with a base64 attachment); -l BYTES sends
// one size. Latency is the time from the last byte of DATA's final "." leaving for the
// kernel to the 250. At the end, one line:
//   ok= failed= seconds= rate= bytes= mb_s= p50_ms= p90_ms= p99_ms= p999_ms= max_ms=
//   conns= resumed= mix=SIZExCOUNT/... cpu_s= t0= t1=
// (bytes: message bytes as a sink counts them, up to the CRLF before "."; mb_s in 10^6
// bytes; cpu_s: the generator's own CPU seconds; t0/t1 wall clock). Exit 0 when every message got
// its 250.
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_net.h"
#include "bench/load_mix.h"

namespace {

using bench::Base;
using bench::Bev;
using bench::Event;
using bench::SizeClass;
using bench::SslCtx;
using bench::SslSession;

enum class Tls { kStartTls, kImplicit, kNone };
enum class St { kGreeting, kEhlo, kStartTls, kAuth, kMail, kRcpt, kData, kDot, kRset, kQuit };
const char* const kStateNames[] = {"greeting", "EHLO", "STARTTLS",    "AUTH", "MAIL",
                                   "RCPT",     "DATA", "end of data", "RSET", "QUIT"};

struct Options {
  long sessions = 20, total = 1000, per_conn = 100;
  double duration = 0, stall = 60;
  Tls tls = Tls::kStartTls;
  std::string user, password, address;
  std::string mix = "4k:60,40k:30,400k:10";
  std::string from = "from@example.test", to = "to@relay-target.test";
  bool pool = false, resume = false;
  uint64_t seed = 1;
};

struct Load;

// One connection. Before STARTTLS the plain bufferevent does not own the socket (the TLS
// one takes it over); a TLS bufferevent owns socket and SSL.
struct Conn {
  Load* load = nullptr;
  size_t slot = 0;
  Bev bev;
  evutil_socket_t fd = -1;
  bool owns_fd = false, tls = false, in_message = true;
  St st = St::kGreeting;
  long sent_here = 0;
  double t_queued = 0, t_dot = 0;
  size_t msg_bytes = 0;
  ~Conn() {
    bev.reset();
    if (owns_fd && fd >= 0) evutil_closesocket(fd);
  }
};

struct Load {
  Options opt;
  sockaddr_in target{};
  Base base;
  SslCtx ctx;
  SslSession session;  // the newest one the server gave, offered again with -R
  std::vector<SizeClass> mix;
  std::string auth_line;
  std::vector<std::unique_ptr<Conn>> slots;
  long claimed = 0, ok = 0, failed = 0, conns = 0, resumed = 0, shown = 0;
  unsigned long long bytes = 0;
  std::vector<double> lat;
  double t0 = 0, last_progress = 0;
  long last_done = 0;
  bench::Rng rng{1};
  Event ticker;
};

void on_read(bufferevent*, void* arg);
void on_write(bufferevent*, void* arg);
void on_event(bufferevent*, short what, void* arg);
void open_conn(Load& l, size_t slot);

// claim - one more message may start (the count or the duration is not used up).
bool claim(Load& l) {
  if (l.failed > 100 && l.ok == 0) return false;  // a server that refuses everything
  if (l.opt.duration > 0 ? bench::mono() - l.t0 >= l.opt.duration : l.claimed >= l.opt.total)
    return false;
  l.claimed++;
  return true;
}

// finish - the connection is over; the slot starts the next message on a new one.
void finish(Conn& c, bool error) {
  Load& l = *c.load;
  size_t slot = c.slot;
  if (c.in_message && error) l.failed++;
  // A close_notify, as real clients send: without it OpenSSL marks the session as not
  // resumable, and -R would resume nothing.
  if (SSL* ssl = c.bev ? bufferevent_openssl_get_ssl(c.bev.get()) : nullptr; ssl && !error)
    SSL_shutdown(ssl);
  l.slots[slot].reset();
  if (claim(l)) {
    open_conn(l, slot);
    return;
  }
  for (const auto& s : l.slots)
    if (s) return;
  event_base_loopbreak(l.base.get());
}

void show_error(Conn& c, const std::string& what) {
  if (c.load->shown++ < 5) std::fprintf(stderr, "smtpload_tls: %s\n", what.c_str());
}

void send(Conn& c, St next, const std::string& line) {
  c.st = next;
  bufferevent_write(c.bev.get(), line.data(), line.size());
}

SSL* new_ssl(Load& l) {
  SSL* ssl = SSL_new(l.ctx.get());
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (l.opt.resume && l.session) SSL_set_session(ssl, l.session.get());
  return ssl;
}

void attach(Conn& c, bufferevent* bev) {
  c.bev.reset(bev);
  // libevent moves 16 KiB per read or write by default: a 400 KiB body would take 25 turns
  // of the loop.
  bufferevent_set_max_single_read(bev, 256 * 1024);
  bufferevent_set_max_single_write(bev, 256 * 1024);
  bufferevent_setcb(bev, on_read, on_write, on_event, &c);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void start_tls(Conn& c) {
  c.bev.reset();
  c.owns_fd = false;
  attach(c, bufferevent_openssl_socket_new(c.load->base.get(), c.fd, new_ssl(*c.load),
                                           BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE));
}

void open_conn(Load& l, size_t slot) {
  auto c = std::make_unique<Conn>();
  Conn& conn = *c;
  conn.load = &l;
  conn.slot = slot;
  l.slots[slot] = std::move(c);
  l.conns++;
  if (l.opt.tls == Tls::kImplicit) {
    attach(conn, bufferevent_openssl_socket_new(l.base.get(), -1, new_ssl(l),
                                                BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE));
    conn.tls = true;
  } else {
    attach(conn, bufferevent_socket_new(l.base.get(), -1, 0));
    conn.owns_fd = true;
  }
  if (bufferevent_socket_connect(conn.bev.get(), reinterpret_cast<sockaddr*>(&l.target),
                                 sizeof l.target) < 0) {
    show_error(conn, "connect failed");
    finish(conn, true);
    return;
  }
  conn.fd = bufferevent_getfd(conn.bev.get());
  int one = 1;
  setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void send_mail(Conn& c) {
  send(c, St::kMail, "MAIL FROM:<" + c.load->opt.from + ">\r\n");
}

void send_message(Conn& c) {
  Load& l = *c.load;
  SizeClass& m = l.mix[bench::pick(l.mix, l.rng.uniform())];
  m.sent++;
  char date[64];
  time_t now = time(nullptr);
  tm t{};
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&now, &t));
  char head[768];
  int n = std::snprintf(head, sizeof head,
                        "Date: %s\r\nFrom: Load <%s>\r\nTo: <%s>\r\nSubject: load message %ld of "
                        "%zu bytes\r\nMessage-ID: <%ld.%d.%ld@load.example.test>\r\n"
                        "MIME-Version: 1.0\r\n",
                        date, l.opt.from.c_str(), l.opt.to.c_str(), l.claimed, m.size,
                        static_cast<long>(now), static_cast<int>(getpid()), l.claimed);
  evbuffer* out = bufferevent_get_output(c.bev.get());
  evbuffer_add(out, head, static_cast<size_t>(n));
  evbuffer_add_reference(out, m.body.data(), m.body.size(), nullptr, nullptr);
  c.msg_bytes = static_cast<size_t>(n) + m.body.size() - 3;  // without the final ".\r\n"
  c.st = St::kDot;
  c.t_queued = bench::mono();
  c.t_dot = 0;
}

// message_done - the 250 after DATA: counts it, then RSET for the next one or QUIT.
void message_done(Conn& c) {
  Load& l = *c.load;
  double now = bench::mono();
  l.lat.push_back(now - (c.t_dot > 0 ? c.t_dot : c.t_queued));
  l.ok++;
  l.bytes += c.msg_bytes;
  c.in_message = false;
  c.sent_here++;
  if (l.opt.pool && c.sent_here < l.opt.per_conn && claim(l)) {
    c.in_message = true;
    send(c, St::kRset, "RSET\r\n");
  } else {
    send(c, St::kQuit, "QUIT\r\n");
  }
}

// What reply() did with a reply.
enum class Next { kRead, kStop, kBad };  // read on; the bufferevent is gone; unexpected

// reply - one complete reply: the next command, or the end of the connection.
Next reply(Conn& c, int code) {
  Load& l = *c.load;
  const int want[] = {220, 250, 220, 235, 250, 250, 354, 250, 250, 221};
  if (c.st == St::kQuit) {  // whatever it says: we are done
    finish(c, false);
    return Next::kStop;
  }
  if (code != want[static_cast<int>(c.st)]) return Next::kBad;
  switch (c.st) {
    case St::kGreeting:
      send(c, St::kEhlo, "EHLO load.example.test\r\n");
      break;
    case St::kEhlo:
      if (l.opt.tls == Tls::kStartTls && !c.tls) {
        send(c, St::kStartTls, "STARTTLS\r\n");
      } else if (!l.auth_line.empty()) {
        send(c, St::kAuth, l.auth_line);
      } else {
        send_mail(c);
      }
      break;
    case St::kStartTls:
      c.tls = true;
      start_tls(c);  // EHLO again once the handshake is done (on_event)
      return Next::kStop;
    case St::kAuth:
    case St::kRset:
      send_mail(c);
      break;
    case St::kMail:
      send(c, St::kRcpt, "RCPT TO:<" + l.opt.to + ">\r\n");
      break;
    case St::kRcpt:
      send(c, St::kData, "DATA\r\n");
      break;
    case St::kData:
      send_message(c);
      break;
    case St::kDot:
      message_done(c);
      break;
    case St::kQuit:
      break;
  }
  return Next::kRead;
}

void on_read(bufferevent* bev, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  evbuffer* in = bufferevent_get_input(bev);
  for (;;) {
    size_t n = 0;
    char* line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    if (line == nullptr) return;
    std::string text(line, n);
    std::free(line);
    if (n < 3) continue;
    if (n > 3 && text[3] == '-') continue;  // more lines of this reply follow
    St st = c.st;
    Next next = reply(c, std::atoi(text.c_str()));
    if (next == Next::kStop) return;
    if (next == Next::kBad) {
      show_error(
          c, std::string("unexpected reply to ") + kStateNames[static_cast<int>(st)] + ": " + text);
      finish(c, true);
      return;
    }
  }
}

void on_write(bufferevent*, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  if (c.st == St::kDot && c.t_dot == 0) c.t_dot = bench::mono();
}

void on_event(bufferevent* bev, short what, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  if (what & BEV_EVENT_CONNECTED) {
    SSL* ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl == nullptr) return;  // TCP up; the greeting comes next
    if (SSL_session_reused(ssl)) c.load->resumed++;
    if (c.st == St::kStartTls) send(c, St::kEhlo, "EHLO load.example.test\r\n");
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    if (c.st == St::kQuit) {
      finish(c, false);
      return;
    }
    unsigned long e = bufferevent_get_openssl_error(bev);
    char buf[256] = "";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    show_error(c, std::string("connection lost in state ") + kStateNames[static_cast<int>(c.st)] +
                      ((what & BEV_EVENT_EOF) ? " (closed by the server)" : " (error)") +
                      (e ? std::string(": ") + buf : std::string()));
    finish(c, true);
  }
}

// on_new_session - keeps the newest session (TLS 1.3 sends it after the handshake).
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* l = static_cast<Load*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  l->session.reset(session);
  return 1;  // we hold the reference now
}

bool make_ctx(Load& l) {
  l.ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!l.ctx) return false;
  SSL_CTX_set_verify(l.ctx.get(), SSL_VERIFY_NONE, nullptr);  // the benchmark's own certificates
  SSL_CTX_set_app_data(l.ctx.get(), &l);
  if (l.opt.resume) {
    SSL_CTX_set_session_cache_mode(l.ctx.get(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(l.ctx.get(), on_new_session);
  }
  return true;
}

std::string auth_plain(const std::string& user, const std::string& password) {
  std::string raw = std::string(1, '\0') + user + std::string(1, '\0') + password;
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return "AUTH PLAIN " + out + "\r\n";
}

void on_tick(evutil_socket_t, short, void* arg) {
  auto& l = *static_cast<Load*>(arg);
  double now = bench::mono();
  long done = l.ok + l.failed;
  if (done != l.last_done) {
    l.last_done = done;
    l.last_progress = now;
  } else if (now - l.last_progress > l.opt.stall) {
    std::fprintf(stderr, "smtpload_tls: no progress for %.0f s (%ld ok, %ld failed)\n", l.opt.stall,
                 l.ok, l.failed);
    event_base_loopbreak(l.base.get());
  }
}

double pct(const std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)] * 1000;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

void report(Load& l, double secs, double w0) {
  std::sort(l.lat.begin(), l.lat.end());
  std::string mix;
  for (const auto& c : l.mix)
    mix += (mix.empty() ? "" : "/") + std::to_string(c.size) + "x" + std::to_string(c.sent);
  std::printf(
      "ok=%ld failed=%ld seconds=%.3f rate=%.1f bytes=%llu mb_s=%.2f p50_ms=%.2f "
      "p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f conns=%ld resumed=%ld mix=%s "
      "cpu_s=%.2f t0=%.6f t1=%.6f\n",
      l.ok, l.failed, secs, static_cast<double>(l.ok) / secs, l.bytes,
      static_cast<double>(l.bytes) / 1e6 / secs, pct(l.lat, 0.50), pct(l.lat, 0.90),
      pct(l.lat, 0.99), pct(l.lat, 0.999), l.lat.empty() ? 0.0 : l.lat.back() * 1000, l.conns,
      l.resumed, mix.c_str(), cpu_seconds(), w0, bench::wall());
}

int usage() {
  std::fputs(
      "usage: smtpload_tls [-s SESSIONS] [-m COUNT | -D SECONDS] [-T starttls|implicit|none]\n"
      "                    [-u USER -p PASSWORD] [-P [-k PER_CONNECTION]] [-R]\n"
      "                    [-z SIZE:WEIGHT,... | -l BYTES] [-f FROM] [-t TO] [-w STALL_SECONDS]\n"
      "                    [-S SEED] HOST:PORT\n",
      stderr);
  return 2;
}

bool parse_tls(const std::string& s, Tls& tls) {
  if (s == "starttls")
    tls = Tls::kStartTls;
  else if (s == "implicit")
    tls = Tls::kImplicit;
  else if (s == "none")
    tls = Tls::kNone;
  else
    return false;
  return true;
}

bool parse_args(int argc, char** argv, Options& o) {
  int c;
  while ((c = getopt(argc, argv, "s:m:D:T:u:p:Pk:Rz:l:f:t:w:S:")) != -1) {
    switch (c) {
      case 's':
        o.sessions = std::atol(optarg);
        break;
      case 'm':
        o.total = std::atol(optarg);
        break;
      case 'D':
        o.duration = std::atof(optarg);
        break;
      case 'T':
        if (!parse_tls(optarg, o.tls)) return false;
        break;
      case 'u':
        o.user = optarg;
        break;
      case 'p':
        o.password = optarg;
        break;
      case 'P':
        o.pool = true;
        break;
      case 'k':
        o.per_conn = std::atol(optarg);
        break;
      case 'R':
        o.resume = true;
        break;
      case 'z':
        o.mix = optarg;
        break;
      case 'l':
        o.mix = std::string(optarg) + ":1";
        break;
      case 'f':
        o.from = optarg;
        break;
      case 't':
        o.to = optarg;
        break;
      case 'w':
        o.stall = std::atof(optarg);
        break;
      case 'S':
        o.seed = std::strtoull(optarg, nullptr, 10);
        break;
      default:
        return false;
    }
  }
  if (optind + 1 != argc || o.sessions < 1 || o.per_conn < 1) return false;
  if (o.user.empty() != o.password.empty()) return false;
  o.address = argv[optind];
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Load l;
  if (!parse_args(argc, argv, l.opt)) return usage();
  auto target = bench::parse_ipv4(l.opt.address);
  l.mix = bench::parse_mix(l.opt.mix);
  if (!target || l.mix.empty()) return usage();
  l.target = *target;
  signal(SIGPIPE, SIG_IGN);
  bench::build_bodies(l.mix, l.opt.seed);
  l.rng = bench::Rng{l.opt.seed * 2 + 1};
  if (!l.opt.user.empty()) l.auth_line = auth_plain(l.opt.user, l.opt.password);
  if (l.opt.tls != Tls::kNone && !make_ctx(l)) return 1;
  l.base.reset(event_base_new());
  l.lat.reserve(static_cast<size_t>(l.opt.duration > 0 ? 100000 : l.opt.total));
  l.slots.resize(static_cast<size_t>(l.opt.sessions));
  l.t0 = l.last_progress = bench::mono();
  double w0 = bench::wall();
  for (size_t i = 0; i < l.slots.size() && claim(l); ++i) open_conn(l, i);
  timeval second{1, 0};
  l.ticker.reset(event_new(l.base.get(), -1, EV_PERSIST, on_tick, &l));
  event_add(l.ticker.get(), &second);
  event_base_dispatch(l.base.get());
  double secs = std::max(bench::mono() - l.t0, 1e-6);
  l.slots.clear();
  report(l, secs, w0);
  return l.ok == l.claimed && l.failed == 0 ? 0 : 1;
}
