// smtp_server.cc - accepting, TLS, and moving bytes between sockets and sessions.
#include "relay/smtp_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "common/log.h"
#include "net/send_now.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

namespace {
timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = ms.count() / 1000;
  tv.tv_usec = (ms.count() % 1000) * 1000;
  return tv;
}

const char* tls_name(conf::ListenerTls t) {
  switch (t) {
    case conf::ListenerTls::kStartTls:
      return "starttls";
    case conf::ListenerTls::kImplicit:
      return "implicit";
    case conf::ListenerTls::kNone:
      return "none";
  }
  return "none";
}

constexpr auto kHandshakeTimeout = std::chrono::seconds(30);
constexpr size_t kMaxUnsent = 256 * 1024;
}  // namespace

// One client connection. Owns its bufferevent and its session; destroyed by
// the server once the connection is closed and nothing is left to write.
class SmtpServer::Connection : public SessionIo {
 public:
  Connection(SmtpServer& server, conf::ConfigPtr config, const conf::Listener& listener, int fd,
             SocketAddress peer)
      : server_(server),
        listener_(listener),
        peer_(peer),
        flush_timer_(server.loop_, [this] { finish_when_flushed(); }) {
    event_base* base = server.loop_.base();
    if (listener.tls == conf::ListenerTls::kImplicit && server.tls_) {
      tls_pending_ = true;
      bev_.reset(bufferevent_openssl_socket_new(base, fd, server.tls_->new_ssl(),
                                                BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE));
    } else {
      bev_.reset(bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE));
    }
    session_ = std::make_shared<ServerSession>(*this, server.services_, server.hooks_,
                                               std::move(config), listener, peer);
    install();
  }

  ~Connection() override {
    m::connections_open(listener_.name).add(-1);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started_)
                  .count();
    log::info("disconnect",
              {{"peer", peer_.to_string()},
               {"listener", listener_.name},
               {"messages", std::to_string(session_->messages())},
               {"seconds", std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100)}});
    session_->closed();
  }

  void begin() {
    log::info("connect", {{"peer", peer_.to_string()}, {"listener", listener_.name}});
    if (tls_pending_) {
      set_timeout(kHandshakeTimeout);  // implicit TLS: the session starts after the handshake
    } else {
      session_->start();
    }
  }

  std::string peer_ip() const { return peer_.ip(); }

  // SessionIo
  // While a chunk of input is being handled, replies are gathered and leave together after
  // it (a pipelined MAIL/RCPT/DATA gets one write); otherwise, at once.
  void send(std::string_view bytes) override {
    if (!bev_ || dead_) return;
    if (reading_) {
      corked_.append(bytes);
    } else {
      net::send_now(bev_.get(), bytes);
    }
  }

  void uncork() {
    if (corked_.empty()) return;
    if (bev_ && !dead_) net::send_now(bev_.get(), corked_);
    corked_.clear();
  }

  void start_tls() override {
    uncork();  // the 220 goes out in clear, before the handshake
    if (!server_.tls_) {
      close();
      return;
    }
    // Whatever came in clear after STARTTLS is dropped, never read as TLS data.
    evbuffer_drain(bufferevent_get_input(bev_.get()),
                   evbuffer_get_length(bufferevent_get_input(bev_.get())));
    bufferevent* tls =
        bufferevent_openssl_filter_new(server_.loop_.base(), bev_.get(), server_.tls_->new_ssl(),
                                       BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!tls) {
      close();
      return;
    }
    (void)bev_.release();  // the filter owns the plain bufferevent now (BEV_OPT_CLOSE_ON_FREE)
    bev_.reset(tls);
    tls_pending_ = true;
    install();
    set_timeout(kHandshakeTimeout);
  }

  void close() override {
    uncork();
    closing_ = true;
    bufferevent_disable(bev_.get(), EV_READ);
    finish_when_flushed();
  }

  void set_timeout(std::chrono::milliseconds timeout) override {
    timeval tv = to_timeval(timeout);
    bufferevent_set_timeouts(bev_.get(), &tv, &tv);
  }

  void set_reading(bool on) override {
    if (closing_) return;
    if (on) {
      bufferevent_enable(bev_.get(), EV_READ);
    } else {
      bufferevent_disable(bev_.get(), EV_READ);
    }
  }

 private:
  void install() {
    bufferevent_setcb(bev_.get(), &Connection::on_read, &Connection::on_write,
                      &Connection::on_event, this);
    if (tls_pending_) bufferevent_openssl_set_allow_dirty_shutdown(bev_.get(), 1);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  }

  // Bytes not yet on the wire: a TLS filter passes its output on to the
  // socket bufferevent below it, which writes it later.
  size_t unsent() const {
    size_t n = evbuffer_get_length(bufferevent_get_output(bev_.get()));
    if (bufferevent* below = bufferevent_get_underlying(bev_.get()))
      n += evbuffer_get_length(bufferevent_get_output(below));
    return n;
  }

  void finish_when_flushed() {
    if (dead_) return;
    if (unsent() == 0) {
      if (!tls_pending_) net::send_close_notify(bev_.get());
      finish();
      return;
    }
    if (++flush_checks_ > 3000) {  // 30 s for a peer that never reads
      finish();
      return;
    }
    flush_timer_.arm(std::chrono::milliseconds(10));
  }

  // Deferred: the session may be deep in a call that got us here.
  void finish() {
    if (dead_) return;
    dead_ = true;
    session_->closed();
    SmtpServer* server = &server_;
    Connection* self = this;
    server_.loop_.post([server, self] { server->release(self); });
  }

  static void on_read(bufferevent* bev, void* arg) {
    auto* self = static_cast<Connection*>(arg);
    if (self->dead_ || self->closing_) return;
    evbuffer* in = bufferevent_get_input(bev);
    // Hand over one chunk at a time; the session may switch to TLS in between,
    // which drains the rest.
    while (!self->dead_ && !self->closing_ && bev == self->bev_.get()) {
      size_t n = evbuffer_get_length(in);
      if (n == 0) break;
      char buf[16384];
      int got = evbuffer_remove(in, buf, std::min(n, sizeof buf));
      if (got <= 0) break;
      self->reading_ = true;
      self->session_->receive(std::string_view(buf, static_cast<size_t>(got)));
      self->reading_ = false;
      self->uncork();
      // A client that sends without reading our replies is not read until
      // it catches up: replies must not pile up without bound.
      if (!self->dead_ && !self->closing_ && self->unsent() > kMaxUnsent) {
        self->output_blocked_ = true;
        bufferevent_disable(self->bev_.get(), EV_READ);
        bufferevent_setwatermark(self->bev_.get(), EV_WRITE, kMaxUnsent / 4, 0);
        break;
      }
    }
  }

  static void on_write(bufferevent* bev, void* arg) {
    auto* self = static_cast<Connection*>(arg);
    if (!self->output_blocked_ || self->dead_ || self->closing_) return;
    self->output_blocked_ = false;
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_enable(bev, EV_READ);
    on_read(bev, arg);  // what was already buffered
  }

  static void on_event(bufferevent* bev, short what, void* arg) {
    auto* self = static_cast<Connection*>(arg);
    if (self->dead_) return;
    if (what & BEV_EVENT_CONNECTED) {
      // The TLS handshake is done (implicit TLS or after STARTTLS).
      self->tls_pending_ = false;
      m::tls_handshakes(true).inc();
      SSL* ssl = bufferevent_openssl_get_ssl(bev);
      if (SSL_session_reused(ssl)) m::tls_resumed().inc();
      bool implicit = self->listener_.tls == conf::ListenerTls::kImplicit &&
                      self->session_->state() == ServerSession::State::kConnect;
      self->session_->tls_established(SSL_get_version(ssl), SSL_get_cipher_name(ssl));
      if (implicit) self->session_->start();
      return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
      if (self->tls_pending_) {
        log::info("tls handshake timeout",
                  {{"peer", self->peer_.to_string()}, {"listener", self->listener_.name}});
        self->finish();
      } else if (self->closing_) {
        self->finish();  // the peer does not read what we write
      } else {
        bufferevent_enable(bev, EV_READ | EV_WRITE);  // a timeout disables them
        self->session_->timed_out();
      }
      return;
    }
    if (what & BEV_EVENT_ERROR) {
      if (self->tls_pending_) {
        m::tls_handshakes(false).inc();
        unsigned long e = bufferevent_get_openssl_error(bev);
        char reason[256] = "connection closed during handshake";
        if (e) ERR_error_string_n(e, reason, sizeof reason);
        log::info("tls handshake failed", {{"peer", self->peer_.to_string()},
                                           {"listener", self->listener_.name},
                                           {"reason", reason}});
      }
    }
    // EOF or error: the peer is gone.
    self->finish();
  }

  SmtpServer& server_;
  const conf::Listener& listener_;
  SocketAddress peer_;
  std::shared_ptr<ServerSession> session_;
  bool tls_pending_ = false;
  bool closing_ = false;
  bool dead_ = false;
  int flush_checks_ = 0;
  bool output_blocked_ = false;
  bool reading_ = false;  // in session_->receive(): replies wait in corked_
  std::string corked_;
  Timer flush_timer_;  // cancelled with the connection
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // Last, so it is freed first: after ~Connection's body, before the session and the timer.
  net::BuffereventPtr bev_;
};

SmtpServer::SmtpServer(Loop& loop, conf::ConfigPtr config, SessionServices& services,
                       const policy::HookChain& hooks, std::shared_ptr<net::TlsContext> tls)
    : loop_(loop),
      config_(std::move(config)),
      services_(services),
      hooks_(hooks),
      tls_(std::move(tls)) {}

SmtpServer::~SmtpServer() {
  stop_listening();
  for (Connection* c : connections_) delete c;
}

Status SmtpServer::listen() {
  bound_config_ = config_;
  for (const auto& listener : bound_config_->listeners) {
    if (listener.role == conf::ListenerRole::kHttp) continue;  // relay::HttpApi's
    if (listener.tls != conf::ListenerTls::kNone && !tls_)
      return Status::error("listener " + listener.name + " needs TLS but no certificate is set");
    auto bound = std::make_unique<Bound>();
    bound->server = this;
    bound->listener = &listener;
    bound->handle.reset(evconnlistener_new_bind(
        loop_.base(), &SmtpServer::on_accept, bound.get(),
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        listener.address.sa(), static_cast<int>(listener.address.length)));
    if (!bound->handle)
      return Status::error("cannot listen on " + listener.address.to_string() + " (" +
                           listener.name + "): " + strerror(errno));
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(evconnlistener_get_fd(bound->handle.get()), reinterpret_cast<sockaddr*>(&ss), &len);
    auto actual = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    bound->guard = std::make_unique<net::AcceptGuard>(loop_, bound->handle.get(), listener.name);
    log::info("listening", {{"listener", listener.name},
                            {"address", actual.to_string()},
                            {"role", listener.role == conf::ListenerRole::kSubmission ? "submission"
                                                                                      : "inbound"},
                            {"tls", tls_name(listener.tls)}});
    bound_.push_back(std::move(bound));
  }
  return Status::ok();
}

void SmtpServer::stop_listening() {
  bound_.clear();
}

void SmtpServer::on_accept(evconnlistener*, int fd, struct sockaddr* sa, int len, void* arg) {
  auto* bound = static_cast<Bound*>(arg);
  bound->server->accept(*bound, fd, SocketAddress::from_sockaddr(sa, static_cast<socklen_t>(len)));
}

void SmtpServer::accept(const Bound& bound, int fd, const SocketAddress& peer) {
  // One address may hold a tenth of the slots at most (inbound listeners:
  // inbound.limits.connections_per_client), so a flood from one host cannot
  // lock everybody else out.
  size_t per_client = std::max<size_t>(10, config_->limits.max_connections / 10);
  if (bound.listener->role == conf::ListenerRole::kInbound &&
      config_->inbound.limits.connections_per_client)
    per_client = config_->inbound.limits.connections_per_client;
  // The newest configuration's listener of the same name, if it still has one.
  conf::ConfigPtr config = bound_config_;
  const conf::Listener* chosen = bound.listener;
  for (const auto& l : config_->listeners) {
    if (l.name == bound.listener->name) {
      config = config_;
      chosen = &l;
      break;
    }
  }
  const conf::Listener& listener = *chosen;
  auto refusal = slots_.try_take(peer.ip(), {config_->limits.max_connections, per_client});
  if (refusal != net::ConnectionSlots::Refusal::kNone) {
    bool one_host = refusal == net::ConnectionSlots::Refusal::kPerClient;
    std::string_view busy = one_host ? "421 4.7.0 Too many connections from your address\r\n"
                                     : "421 4.7.0 Too many connections, try again later\r\n";
    ssize_t n = ::write(fd, busy.data(), busy.size());
    (void)n;  // best effort; the client retries either way
    ::close(fd);
    log::warning(
        "connection refused",
        {{"peer", peer.to_string()},
         {"listener", listener.name},
         {"reason", one_host ? "too many connections from this address" : "too many connections"}});
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  evutil_make_socket_nonblocking(fd);
  m::connections_total(listener.name).inc();
  m::connections_open(listener.name).add(1);
  auto* c = new Connection(*this, std::move(config), listener, fd, peer);
  connections_.insert(c);
  c->begin();
}

void SmtpServer::release(Connection* connection) {
  if (!connections_.erase(connection)) return;
  slots_.give_back(connection->peer_ip());
  delete connection;
}

}  // namespace hato::relay
