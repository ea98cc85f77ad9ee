// smtpsink_tls - a counting SMTP sink with STARTTLS (or implicit TLS), for benchmarks.
//
//   smtpsink_tls -c CERT -k KEY [-i] [-a USER:PASSWORD] [-n] [-d DIR] HOST:PORT
//
// Accepts any MAIL/RCPT, throws bodies away as they arrive and counts messages and bytes.
// STARTTLS is offered before TLS (-i: TLS from the first byte, 465 style; -n: no TLS at
// all), AUTH PLAIN after it; with -a, MAIL needs a login with exactly that pair. -d keeps
// each message as DIR/N.eml (for checks, not for speed). Prints
// "listening address=HOST:PORT" once, then, at most every 20 ms when something changed and
// at exit (SIGTERM, SIGINT), one line:
//   mesg=M bytes=B conns=C tls=T resumed=R auth=A
// (the same mesg= as `smtp-sink -c`, so compare.sh's waiter follows either). One thread,
// one libevent loop; bodies are scanned for CRLF.CRLF in place, never copied.
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_set>

#include "bench/bench_net.h"

namespace {

using bench::Base;
using bench::Bev;
using bench::Event;
using bench::Listener;
using bench::SslCtx;

struct Counts {
  unsigned long messages = 0, bytes = 0, conns = 0, tls = 0, resumed = 0, auth = 0;
  bool operator==(const Counts&) const = default;
};

struct Options {
  std::string cert, key, login, address, dump;
  bool implicit = false, plain_only = false;
};

struct Session;

struct Sink {
  Options opt;
  std::unordered_set<Session*> live;  // closed at exit, so that nothing leaks
  Base base;
  SslCtx ctx;
  Listener listener;
  Event ticker, sigterm, sigint;
  Counts counts, printed;
};

// One client connection. The plain bufferevent does not own the socket, so that STARTTLS
// can put a TLS one on the same descriptor; the TLS one owns socket and SSL.
struct Session {
  Sink* sink = nullptr;
  evutil_socket_t fd = -1;
  Bev bev;
  bool tls = false, owns_fd = true;
  bool in_data = false, data_start = false, starttls = false, quitting = false;
  bool authed = false, auth_pending = false;
  int rcpts = 0;
  bool mail = false;
  unsigned long body = 0;
  std::string kept;  // the message so far, with -d only
  ~Session() {
    sink->live.erase(this);
    bev.reset();
    if (owns_fd) evutil_closesocket(fd);
  }
};

void print_counts(Sink& s) {
  const Counts& c = s.counts;
  std::printf("mesg=%lu bytes=%lu conns=%lu tls=%lu resumed=%lu auth=%lu\n", c.messages, c.bytes,
              c.conns, c.tls, c.resumed, c.auth);
  std::fflush(stdout);
  s.printed = c;
}

void reply(Session& s, std::string_view text) {
  bufferevent_write(s.bev.get(), text.data(), text.size());
}

void on_read(bufferevent*, void* arg);
void on_write(bufferevent*, void* arg);
void on_event(bufferevent*, short what, void* arg);

void attach(Session& s, bufferevent* bev) {
  s.bev.reset(bev);
  // libevent moves 16 KiB per read or write by default: a 400 KiB body would take 25 turns
  // of the loop.
  bufferevent_set_max_single_read(bev, 256 * 1024);
  bufferevent_set_max_single_write(bev, 256 * 1024);
  bufferevent_setcb(bev, on_read, on_write, on_event, &s);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void start_tls(Session& s) {
  SSL* ssl = SSL_new(s.sink->ctx.get());
  s.bev.reset();
  s.owns_fd = false;  // the TLS bufferevent closes it
  attach(s, bufferevent_openssl_socket_new(s.sink->base.get(), s.fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                           BEV_OPT_CLOSE_ON_FREE));
  s.tls = true;
}

// check_plain - RFC 4616: base64 of "authzid NUL user NUL password".
bool check_plain(const Sink& sink, std::string_view b64) {
  if (sink.opt.login.empty()) return true;
  std::string raw(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return false;
  while (!b64.empty() && b64.back() == '=') {  // EVP_DecodeBlock keeps the padding's zeros
    b64.remove_suffix(1);
    --n;
  }
  raw.resize(static_cast<size_t>(n));
  auto first = raw.find('\0');
  if (first == std::string::npos) return false;
  auto second = raw.find('\0', first + 1);
  if (second == std::string::npos) return false;
  std::string pair = raw.substr(first + 1, second - first - 1) + ":" + raw.substr(second + 1);
  return pair == sink.opt.login;
}

void auth_answer(Session& s, std::string_view b64) {
  if (check_plain(*s.sink, b64)) {
    s.authed = true;
    s.sink->counts.auth++;
    reply(s, "235 2.7.0 Authentication successful\r\n");
  } else {
    reply(s, "535 5.7.8 Authentication credentials invalid\r\n");
  }
}

void ehlo(Session& s) {
  std::string r = "250-sink.bench.test\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n";
  if (!s.tls && !s.sink->opt.plain_only) r += "250-STARTTLS\r\n";
  if (s.tls) r += "250-AUTH PLAIN\r\n";
  r += "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";
  reply(s, r);
}

bool starts(std::string_view line, std::string_view verb) {
  if (line.size() < verb.size()) return false;
  for (size_t i = 0; i < verb.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(line[i])) != verb[i]) return false;
  return true;
}

// command - one command line; false once nothing more may be read (STARTTLS, QUIT).
bool command(Session& s, std::string_view line) {
  const bool need_auth = !s.sink->opt.login.empty();
  if (s.auth_pending) {
    s.auth_pending = false;
    auth_answer(s, line);
  } else if (starts(line, "EHLO")) {
    ehlo(s);
  } else if (starts(line, "HELO")) {
    reply(s, "250 sink.bench.test\r\n");
  } else if (starts(line, "STARTTLS") && !s.tls && !s.sink->opt.plain_only) {
    reply(s, "220 2.0.0 Ready to start TLS\r\n");
    s.starttls = true;  // once this reply is out (on_write)
    return false;
  } else if (starts(line, "AUTH PLAIN") && s.tls) {
    if (line.size() > 11) {
      auth_answer(s, line.substr(11));
    } else {
      s.auth_pending = true;
      reply(s, "334 \r\n");
    }
  } else if (starts(line, "MAIL")) {
    if (need_auth && !s.authed) {
      reply(s, "530 5.7.0 Authentication required\r\n");
    } else {
      s.mail = true;
      s.rcpts = 0;
      reply(s, "250 2.1.0 Ok\r\n");
    }
  } else if (starts(line, "RCPT")) {
    s.rcpts += s.mail ? 1 : 0;
    reply(s, s.mail ? "250 2.1.5 Ok\r\n" : "503 5.5.1 MAIL first\r\n");
  } else if (starts(line, "DATA")) {
    if (s.rcpts == 0) {
      reply(s, "503 5.5.1 RCPT first\r\n");
    } else {
      s.in_data = s.data_start = true;
      s.body = 0;
      reply(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
    }
  } else if (starts(line, "RSET")) {
    s.mail = false;
    s.rcpts = 0;
    reply(s, "250 2.0.0 Ok\r\n");
  } else if (starts(line, "NOOP")) {
    reply(s, "250 2.0.0 Ok\r\n");
  } else if (starts(line, "QUIT")) {
    reply(s, "221 2.0.0 Bye\r\n");
    s.quitting = true;
    return false;
  } else {
    reply(s, "502 5.5.2 Command not recognized\r\n");
  }
  return true;
}

void end_message(Session& s) {
  s.in_data = false;
  s.mail = false;
  s.rcpts = 0;
  s.sink->counts.messages++;
  s.sink->counts.bytes += s.body;
  if (!s.sink->opt.dump.empty()) {
    std::string path = s.sink->opt.dump + "/" + std::to_string(s.sink->counts.messages) + ".eml";
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(s.kept.data(), 1, s.kept.size(), f);
      std::fclose(f);
    }
    s.kept.clear();
  }
  char line[64];
  int n =
      std::snprintf(line, sizeof line, "250 2.0.0 Ok: queued as %lu\r\n", s.sink->counts.messages);
  reply(s, std::string_view(line, static_cast<size_t>(n)));
}

// take - n bytes of the body: thrown away, or kept with -d.
void take(Session& s, evbuffer* in, size_t n) {
  s.body += n;
  if (!s.sink->opt.dump.empty()) {
    size_t at = s.kept.size();
    s.kept.resize(at + n);
    evbuffer_remove(in, s.kept.data() + at, n);
  } else {
    evbuffer_drain(in, n);
  }
}

// body - drains DATA up to and including CRLF.CRLF; true when the message ended. The last
// four bytes stay buffered, so that a terminator split between reads is still seen.
bool body(Session& s, evbuffer* in) {
  size_t len = evbuffer_get_length(in);
  if (s.data_start) {  // the line after 354 starts right here: "." CRLF ends an empty body
    if (len < 3) return false;
    s.data_start = false;
    char head[3];
    evbuffer_copyout(in, head, 3);
    if (std::string_view(head, 3) == ".\r\n") {
      evbuffer_drain(in, 3);
      end_message(s);
      return true;
    }
  }
  evbuffer_ptr at = evbuffer_search(in, "\r\n.\r\n", 5, nullptr);
  if (at.pos >= 0) {
    take(s, in, static_cast<size_t>(at.pos) + 2);
    evbuffer_drain(in, 3);
    end_message(s);
    return true;
  }
  if (len > 4) take(s, in, len - 4);
  return false;
}

void on_read(bufferevent* bev, void* arg) {
  auto& s = *static_cast<Session*>(arg);
  evbuffer* in = bufferevent_get_input(bev);
  while (!s.starttls && !s.quitting) {
    if (s.in_data) {
      if (!body(s, in)) return;
      continue;
    }
    size_t n = 0;
    char* line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    if (line == nullptr) {
      if (evbuffer_get_length(in) > 4096) {  // no line end in sight: not SMTP
        delete &s;
      }
      return;
    }
    bool more = command(s, std::string_view(line, n));
    std::free(line);
    if (!more) break;
  }
  // RFC 3207 section 4.2: what the client sent after STARTTLS is thrown away.
  evbuffer_drain(in, evbuffer_get_length(in));
}

void on_write(bufferevent*, void* arg) {
  auto& s = *static_cast<Session*>(arg);
  if (s.quitting) {
    // close_notify after the 221: a session closed without it cannot be resumed.
    if (SSL* ssl = bufferevent_openssl_get_ssl(s.bev.get())) SSL_shutdown(ssl);
    delete &s;
  } else if (s.starttls) {
    s.starttls = false;
    start_tls(s);
  }
}

void on_event(bufferevent* bev, short what, void* arg) {
  auto& s = *static_cast<Session*>(arg);
  if (what & BEV_EVENT_CONNECTED) {  // a TLS handshake finished
    s.sink->counts.tls++;
    if (SSL_session_reused(bufferevent_openssl_get_ssl(bev))) s.sink->counts.resumed++;
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) delete &s;
}

void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  auto& sink = *static_cast<Sink*>(arg);
  int one = 1;  // replies are small and each one is awaited
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto* s = new Session;
  s->sink = &sink;
  s->fd = fd;
  sink.live.insert(s);
  sink.counts.conns++;
  if (sink.opt.implicit) {
    start_tls(*s);
  } else {
    attach(*s, bufferevent_socket_new(sink.base.get(), fd, 0));
  }
  reply(*s, "220 sink.bench.test ESMTP smtpsink_tls\r\n");
}

void on_tick(evutil_socket_t, short, void* arg) {
  auto& sink = *static_cast<Sink*>(arg);
  if (!(sink.counts == sink.printed)) print_counts(sink);
}

void on_signal(evutil_socket_t, short, void* arg) {
  auto& sink = *static_cast<Sink*>(arg);
  print_counts(sink);
  event_base_loopbreak(sink.base.get());
}

int usage() {
  std::fputs(
      "usage: smtpsink_tls -c CERT -k KEY [-i] [-a USER:PASSWORD] [-d DIR] HOST:PORT\n"
      "       smtpsink_tls -n [-d DIR] HOST:PORT   (no TLS)\n",
      stderr);
  return 2;
}

bool make_ctx(Sink& sink) {
  sink.ctx.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = sink.ctx.get();
  if (SSL_CTX_use_certificate_chain_file(ctx, sink.opt.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, sink.opt.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::fprintf(stderr, "smtpsink_tls: cannot load %s / %s\n", sink.opt.cert.c_str(),
                 sink.opt.key.c_str());
    ERR_print_errors_fp(stderr);
    return false;
  }
  // Resumption as a real MTA offers it: tickets (OpenSSL's default) and a session cache.
  static const unsigned char kContext[] = "smtpsink_tls";
  SSL_CTX_set_session_id_context(ctx, kContext, sizeof kContext - 1);
  return true;
}

bool parse_args(int argc, char** argv, Options& opt) {
  int c;
  while ((c = getopt(argc, argv, "c:k:ia:nd:")) != -1) {
    switch (c) {
      case 'c':
        opt.cert = optarg;
        break;
      case 'k':
        opt.key = optarg;
        break;
      case 'i':
        opt.implicit = true;
        break;
      case 'a':
        opt.login = optarg;
        break;
      case 'n':
        opt.plain_only = true;
        break;
      case 'd':
        opt.dump = optarg;
        break;
      default:
        return false;
    }
  }
  if (optind + 1 != argc) return false;
  opt.address = argv[optind];
  if (opt.plain_only) return !opt.implicit;
  return !opt.cert.empty() && !opt.key.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Sink sink;
  if (!parse_args(argc, argv, sink.opt)) return usage();
  auto addr = bench::parse_ipv4(sink.opt.address);
  if (!addr) return usage();
  signal(SIGPIPE, SIG_IGN);
  if (!sink.opt.plain_only && !make_ctx(sink)) return 1;
  sink.base.reset(event_base_new());
  sink.listener.reset(evconnlistener_new_bind(sink.base.get(), on_accept, &sink,
                                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
                                              reinterpret_cast<sockaddr*>(&*addr), sizeof *addr));
  if (!sink.listener) {
    std::perror("smtpsink_tls: bind");
    return 1;
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  getsockname(evconnlistener_get_fd(sink.listener.get()), reinterpret_cast<sockaddr*>(&bound),
              &len);
  char host[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &bound.sin_addr, host, sizeof host);
  std::printf("listening address=%s:%u\n", host, ntohs(bound.sin_port));
  print_counts(sink);
  timeval tick{0, 20000};
  sink.ticker.reset(event_new(sink.base.get(), -1, EV_PERSIST, on_tick, &sink));
  event_add(sink.ticker.get(), &tick);
  sink.sigterm.reset(evsignal_new(sink.base.get(), SIGTERM, on_signal, &sink));
  sink.sigint.reset(evsignal_new(sink.base.get(), SIGINT, on_signal, &sink));
  event_add(sink.sigterm.get(), nullptr);
  event_add(sink.sigint.get(), nullptr);
  event_base_dispatch(sink.base.get());
  while (!sink.live.empty()) delete *sink.live.begin();
  return 0;
}
