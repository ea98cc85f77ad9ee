// client_connection.cc - connecting, TLS as a client, moving bytes to the session.
#include "relay/client_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/send_now.h"

namespace hato::relay {

ClientConnection::ClientConnection(Loop& loop, std::shared_ptr<net::TlsContext> tls,
                                   std::string sni)
    : loop_(loop), tls_(std::move(tls)), sni_(std::move(sni)) {}

ClientConnection::~ClientConnection() = default;

Status ClientConnection::connect(const SocketAddress& to,
                                 const std::optional<SocketAddress>& source, bool implicit_tls,
                                 std::chrono::milliseconds connect_timeout) {
  int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(std::string("socket: ") + std::strerror(errno));
  if (source) {
    int one = 1;
    setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof one);
    if (::bind(fd, source->sa(), source->length) != 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return Status::error("cannot bind source address " + source->ip() + ": " + why);
    }
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (implicit_tls) {
    SSL* ssl = make_ssl();
    if (!ssl) {
      ::close(fd);
      return Status::error(error_);
    }
    bev_.reset(bufferevent_openssl_socket_new(loop_.base(), fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                              BEV_OPT_CLOSE_ON_FREE));
    tls_pending_ = true;
  } else {
    bev_.reset(bufferevent_socket_new(loop_.base(), fd, BEV_OPT_CLOSE_ON_FREE));
  }
  if (!bev_) {
    ::close(fd);
    return Status::error("cannot create a connection buffer");
  }
  install();
  set_timeout(connect_timeout);
  if (bufferevent_socket_connect(bev_.get(), to.sa(), static_cast<int>(to.length)) != 0) {
    error_ = std::strerror(errno);
    return Status::error(error_);
  }
  return Status::ok();
}

void ClientConnection::install() {
  bufferevent_setcb(bev_.get(), &ClientConnection::on_read, nullptr, &ClientConnection::on_event,
                    this);
  if (tls_pending_) bufferevent_openssl_set_allow_dirty_shutdown(bev_.get(), 1);
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
}

void ClientConnection::send(std::string_view bytes) {
  if (bev_ && !closed_) net::send_now(bev_.get(), bytes);
}

SSL* ClientConnection::make_ssl() {
  SSL* ssl = tls_->new_ssl();
  if (!ssl) {
    error_ = "cannot start TLS: " + net::openssl_error();
    return nullptr;
  }
  if (!sni_.empty()) SSL_set_tlsext_host_name(ssl, sni_.c_str());
  if (auto s = net::apply_peer_check(ssl, check_); !s) {
    SSL_free(ssl);
    error_ = s.message();
    return nullptr;
  }
  return ssl;
}

void ClientConnection::start_tls() {
  SSL* ssl = make_ssl();
  if (!ssl) {
    gone();
    return;
  }
  bufferevent* tls = bufferevent_openssl_filter_new(
      loop_.base(), bev_.get(), ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
  if (!tls) {
    error_ = "cannot start TLS";
    gone();
    return;
  }
  (void)bev_.release();  // the filter owns the plain bufferevent now (BEV_OPT_CLOSE_ON_FREE)
  bev_.reset(tls);
  tls_pending_ = true;
  install();
}

void ClientConnection::close() {
  if (closed_) return;
  closed_ = true;
  if (bev_) {
    // Replies we still owe are not worth waiting for: the session is done.
    if (!tls_pending_) net::send_close_notify(bev_.get());
    bev_.reset();
  }
}

void ClientConnection::set_timeout(std::chrono::milliseconds timeout) {
  if (!bev_) return;
  timeval tv;
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  bufferevent_set_timeouts(bev_.get(), &tv, &tv);
}

void ClientConnection::gone() {
  if (closed_) return;
  close();
  if (session_) session_->closed();
}

void ClientConnection::on_read(bufferevent* bev, void* arg) {
  auto* self = static_cast<ClientConnection*>(arg);
  evbuffer* in = bufferevent_get_input(bev);
  while (!self->closed_ && bev == self->bev_.get()) {
    size_t n = evbuffer_get_length(in);
    if (n == 0) break;
    char buf[16384];
    int got = evbuffer_remove(in, buf, std::min(n, sizeof buf));
    if (got <= 0) break;
    self->session_->receive(std::string_view(buf, static_cast<size_t>(got)));
  }
}

void ClientConnection::on_event(bufferevent* bev, short what, void* arg) {
  auto* self = static_cast<ClientConnection*>(arg);
  if (self->closed_) return;
  if (what & BEV_EVENT_CONNECTED) {
    if (self->tls_pending_) {
      self->tls_pending_ = false;
      bool first = !self->connected_;
      self->connected_ = true;
      SSL* ssl = bufferevent_openssl_get_ssl(bev);
      self->tls_done_ = true;
      self->check_error_ = net::peer_check_failure(ssl, self->check_, &self->check_type_);
      if (first) self->session_->connected();
      if (!self->check_error_.empty() && self->check_.enforce) {
        // Nothing is said over a channel whose peer we could not authenticate.
        self->session_->tls_rejected(self->check_error_);
        return;
      }
      self->session_->tls_established(SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    } else {
      self->connected_ = true;
      self->session_->connected();
    }
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    if (!self->connected_) {
      self->error_ = "connection timed out";
      self->gone();
    } else {
      bufferevent_enable(bev, EV_READ | EV_WRITE);
      self->session_->timed_out();
    }
    return;
  }
  if (what & BEV_EVENT_ERROR) {
    int err = EVUTIL_SOCKET_ERROR();
    unsigned long ssl_err = bufferevent_get_openssl_error(bev);
    if (ssl_err) {
      char reason[256];
      ERR_error_string_n(ssl_err, reason, sizeof reason);
      self->error_ = std::string("TLS handshake failed: ") + reason;
    } else if (self->tls_pending_) {
      self->error_ = "TLS handshake failed";
    } else if (err) {
      self->error_ = std::strerror(err);
    } else {
      self->error_ = "connection error";
    }
  } else if (what & BEV_EVENT_EOF) {
    self->error_ = "connection closed by the server";
  }
  self->gone();
}

namespace {
class TcpConnector : public Connector {
 public:
  TcpConnector(Loop& loop, std::shared_ptr<net::TlsContext> tls)
      : loop_(loop), tls_(std::move(tls)) {}
  std::unique_ptr<Connection> make(const std::string& sni) override {
    return std::make_unique<ClientConnection>(loop_, tls_, sni);
  }

 private:
  Loop& loop_;
  std::shared_ptr<net::TlsContext> tls_;
};
}  // namespace

std::unique_ptr<Connector> make_tcp_connector(Loop& loop, std::shared_ptr<net::TlsContext> tls) {
  return std::make_unique<TcpConnector>(loop, std::move(tls));
}

}  // namespace hato::relay
