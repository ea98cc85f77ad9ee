// http_server.cc - connections, deadlines and caps of the HTTP server; the parsing is in
// http_request_parser.cc.
#include "net/http_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <unordered_map>

#include "common/log.h"
#include "net/accept_guard.h"
#include "net/connection_slots.h"
#include "net/event_handles.h"
#include "net/net_metrics.h"

namespace hato::net {

namespace {

constexpr int64_t kRefusalLogEveryMs = 10'000;
constexpr size_t kPullup = 64 * 1024;          // bytes parsed per step
constexpr size_t kReadHighWater = 256 * 1024;  // buffered before reading pauses

// IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[40];
  size_t n = std::strftime(out, sizeof out, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(out, n);
}

}  // namespace

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  enum class Phase { kHead, kBody, kHandling, kStreaming, kWriting, kIdle };

  HttpConnection(HttpServer::Impl& server, bufferevent* bev, SocketAddress peer);
  void start();
  void respond(uint64_t serial, HttpServerResponse response);
  bool start_stream(uint64_t serial, HttpServerResponse head, size_t max_buffered);
  bool stream_send(uint64_t serial, std::string_view piece);
  bool streaming(uint64_t serial) const { return serial == serial_ && phase_ == Phase::kStreaming; }
  void stream_end(uint64_t serial);
  // A connection still waiting for a whole request may be closed to make room.
  bool evictable() const { return phase_ == Phase::kHead || phase_ == Phase::kIdle; }
  int64_t phase_since_ms() const { return phase_since_ms_; }
  const SocketAddress& peer() const { return peer_; }

 private:
  static void on_read(bufferevent*, void* arg) { static_cast<HttpConnection*>(arg)->read(); }
  static void on_write(bufferevent*, void* arg);
  static void on_event(bufferevent*, short what, void* arg);
  void read();
  void dispatch();
  void send(HttpServerResponse response, bool streamed = false);
  void expired();
  void enter(Phase phase, std::chrono::milliseconds deadline);
  void close();  // the last thing a callback does: `this` is gone after it

  HttpServer::Impl& server_;
  BuffereventPtr bev_;
  SocketAddress peer_;
  HttpRequestParser parser_;
  Timer timer_;
  Phase phase_ = Phase::kHead;
  int64_t phase_since_ms_ = 0;
  uint64_t serial_ = 0;  // of the request being answered
  bool head_only_ = false;
  bool close_after_ = false;
  size_t stream_bound_ = 0;  // unwritten bytes a stream may leave in the output buffer
};

struct HttpServer::Impl {
  Impl(Loop& l, HttpServerOptions o, Handler h)
      : loop(l), options(std::move(o)), handler(std::move(h)) {}
  ~Impl() { open.clear(); }

  static void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int len, void* arg);
  void accept(int fd, const SocketAddress& peer);
  bool evict_one();
  void refuse(int fd, const SocketAddress& peer, const char* reason);
  void release(HttpConnection* connection);

  Loop& loop;
  HttpServerOptions options;
  Handler handler;
  ConnectionSlots slots;
  std::unordered_map<HttpConnection*, std::shared_ptr<HttpConnection>> open;
  EvconnlistenerPtr listener;
  std::unique_ptr<AcceptGuard> guard;  // after listener: goes first
  SocketAddress bound;
  int64_t last_refusal_log_ms = 0;
  size_t unlogged_refusals = 0;
};

void HttpResponder::operator()(HttpServerResponse response) const {
  if (auto connection = connection_.lock()) connection->respond(serial_, std::move(response));
}

HttpStream HttpResponder::stream(HttpServerResponse head, size_t max_buffered) const {
  auto connection = connection_.lock();
  if (!connection || !connection->start_stream(serial_, std::move(head), max_buffered)) return {};
  return HttpStream(connection_, serial_);
}

bool HttpStream::send(std::string_view piece) const {
  auto connection = connection_.lock();
  return connection && connection->stream_send(serial_, piece);
}

bool HttpStream::open() const {
  auto connection = connection_.lock();
  return connection && connection->streaming(serial_);
}

void HttpStream::end() const {
  if (auto connection = connection_.lock()) connection->stream_end(serial_);
}

HttpConnection::HttpConnection(HttpServer::Impl& server, bufferevent* bev, SocketAddress peer)
    : server_(server),
      bev_(bev),
      peer_(std::move(peer)),
      parser_(server.options.parse),
      timer_(server.loop, [this] { expired(); }) {}

void HttpConnection::start() {
  bufferevent_setcb(bev_.get(), &on_read, &on_write, &on_event, this);
  bufferevent_setwatermark(bev_.get(), EV_READ, 0, kReadHighWater);
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  // The head deadline starts now: a TLS handshake is part of the time a client has.
  enter(Phase::kHead, server_.options.head_timeout);
}

void HttpConnection::enter(Phase phase, std::chrono::milliseconds deadline) {
  phase_ = phase;
  phase_since_ms_ = log::now_ms();
  if (deadline.count() > 0) {
    timer_.arm(deadline);
  } else {
    timer_.cancel();
  }
}

void HttpConnection::read() {
  evbuffer* in = bufferevent_get_input(bev_.get());
  while (phase_ == Phase::kHead || phase_ == Phase::kBody || phase_ == Phase::kIdle) {
    size_t length = std::min(evbuffer_get_length(in), kPullup);
    if (length == 0) return;
    // A kept-alive connection's next request gets its own head deadline from its first byte.
    if (phase_ == Phase::kIdle) enter(Phase::kHead, server_.options.head_timeout);
    const auto* data = reinterpret_cast<const char*>(evbuffer_pullup(in, length));
    size_t used = 0;
    int status = parser_.feed(std::string_view(data, length), &used);
    evbuffer_drain(in, used);
    if (status == 0) {
      if (parser_.in_body() && phase_ == Phase::kHead)
        enter(Phase::kBody, server_.options.body_timeout);
      continue;
    }
    if (status == 200) return dispatch();
    log::info("http request refused", {{"listener", server_.options.name},
                                       {"peer", peer_.to_string()},
                                       {"status", std::to_string(status)},
                                       {"reason", parser_.error()}});
    enter(Phase::kHandling, {});
    HttpServerResponse refusal =
        server_.options.refusal
            ? server_.options.refusal(status, parser_.error())
            : HttpServerResponse{
                  status, {{"Content-Type", "text/plain; charset=utf-8"}}, parser_.error() + "\n"};
    refusal.close = true;
    return send(std::move(refusal));
  }
}

void HttpConnection::dispatch() {
  // Reading goes on (up to the watermark), so a client that hangs up is noticed; pipelined
  // requests wait in the buffer until this one is answered.
  enter(Phase::kHandling, {});
  HttpServerRequest& request = parser_.request();
  head_only_ = request.method == "HEAD";
  close_after_ = close_after_ || !request.keep_alive();
  request.peer = peer_;
  if (SSL* ssl = bufferevent_openssl_get_ssl(bev_.get())) {
    request.tls_version = SSL_get_version(ssl);
    request.tls_cipher = SSL_get_cipher_name(ssl);
  }
  server_.handler(request, HttpResponder(weak_from_this(), ++serial_));
}

void HttpConnection::respond(uint64_t serial, HttpServerResponse response) {
  if (serial != serial_ || phase_ != Phase::kHandling) return;
  send(std::move(response));
}

bool HttpConnection::start_stream(uint64_t serial, HttpServerResponse head, size_t max_buffered) {
  if (serial != serial_ || phase_ != Phase::kHandling || head_only_) return false;
  close_after_ = true;  // the body ends when the connection does
  stream_bound_ = max_buffered;
  send(std::move(head), /*streamed=*/true);
  // No deadline: the client only reads. Its leaving is seen by on_event; a client that
  // stops reading fills the bound and is sent nothing more.
  enter(Phase::kStreaming, {});
  return true;
}

bool HttpConnection::stream_send(uint64_t serial, std::string_view piece) {
  if (!streaming(serial)) return false;
  evbuffer* out = bufferevent_get_output(bev_.get());
  if (evbuffer_get_length(out) + piece.size() > stream_bound_) return false;
  return evbuffer_add(out, piece.data(), piece.size()) == 0;
}

void HttpConnection::stream_end(uint64_t serial) {
  if (!streaming(serial)) return;
  enter(Phase::kWriting, server_.options.write_timeout);
  // Nothing left to write: on_write will not come, so close now.
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) close();
}

void HttpConnection::send(HttpServerResponse response, bool streamed) {
  close_after_ = close_after_ || response.close;
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " +
                     http_reason(response.status) + "\r\nDate: " + http_date(log::now_ms()) +
                     "\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  if (!streamed && response.status != 204 && response.status != 304)
    head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  if (close_after_) head += "Connection: close\r\n";
  head += "\r\n";
  evbuffer* out = bufferevent_get_output(bev_.get());
  evbuffer_add(out, head.data(), head.size());
  if (!head_only_) evbuffer_add(out, response.body.data(), response.body.size());
  if (!streamed) enter(Phase::kWriting, server_.options.write_timeout);
}

void HttpConnection::on_write(bufferevent*, void* arg) {
  auto* self = static_cast<HttpConnection*>(arg);
  if (self->phase_ != Phase::kWriting) return;
  if (self->close_after_) return self->close();
  self->parser_.reset();
  self->head_only_ = false;
  self->enter(Phase::kIdle, self->server_.options.idle_timeout);
  self->read();
}

void HttpConnection::on_event(bufferevent*, short what, void* arg) {
  auto* self = static_cast<HttpConnection*>(arg);
  if (what & BEV_EVENT_CONNECTED) return;  // the TLS handshake is done
  // A client may half-close after its request and still read the answer.
  if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
      (self->phase_ == Phase::kHandling || self->phase_ == Phase::kWriting)) {
    self->close_after_ = true;
    return;
  }
  self->close();
}

void HttpConnection::expired() {
  const char* phase = phase_ == Phase::kHead   ? "head"
                      : phase_ == Phase::kBody ? "body"
                      : phase_ == Phase::kIdle ? "idle"
                                               : "write";
  // A slow client is closed, not answered: an answer would hold the slot longer.
  if (phase_ != Phase::kIdle) m::http_timeouts(server_.options.name, phase).inc();
  close();
}

void HttpConnection::close() {
  server_.release(this);
}

void HttpServer::Impl::on_accept(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int len,
                                 void* arg) {
  static_cast<Impl*>(arg)->accept(fd,
                                  SocketAddress::from_sockaddr(sa, static_cast<socklen_t>(len)));
}

void HttpServer::Impl::accept(int fd, const SocketAddress& peer) {
  SlotLimits limits{options.max_connections, options.max_per_client};
  auto refusal = slots.try_take(peer.ip(), limits);
  if (refusal == ConnectionSlots::Refusal::kTotal && evict_one())
    refusal = slots.try_take(peer.ip(), limits);
  if (refusal != ConnectionSlots::Refusal::kNone) {
    return refuse(fd, peer, refusal == ConnectionSlots::Refusal::kTotal ? "total" : "per_client");
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  evutil_make_socket_nonblocking(fd);
  bufferevent* bev = nullptr;
  if (options.tls) {
    SSL* ssl = options.tls();
    if (ssl) {
      bev = bufferevent_openssl_socket_new(loop.base(), fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                           BEV_OPT_CLOSE_ON_FREE);
    }
  } else {
    bev = bufferevent_socket_new(loop.base(), fd, BEV_OPT_CLOSE_ON_FREE);
  }
  if (!bev) {
    ::close(fd);
    slots.give_back(peer.ip());
    log::warning("http connection dropped",
                 {{"listener", options.name},
                  {"peer", peer.to_string()},
                  {"reason", "cannot set up the connection (TLS context or memory)"}});
    return;
  }
  auto connection = std::make_shared<HttpConnection>(*this, bev, peer);
  open.emplace(connection.get(), connection);
  m::http_connections(options.name).add(1);
  connection->start();
}

// The connection that has waited longest without a whole request makes room for a new one.
bool HttpServer::Impl::evict_one() {
  HttpConnection* oldest = nullptr;
  for (const auto& [raw, connection] : open) {
    if (raw->evictable() && (!oldest || raw->phase_since_ms() < oldest->phase_since_ms()))
      oldest = raw;
  }
  if (!oldest) return false;
  m::http_refused(options.name, "evicted").inc();
  release(oldest);
  return true;
}

void HttpServer::Impl::refuse(int fd, const SocketAddress& peer, const char* reason) {
  if (!options.tls) {
    static const char kBusy[] =
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n"
        "Content-Length: 0\r\n\r\n";
    ssize_t n = ::write(fd, kBusy, sizeof kBusy - 1);
    (void)n;  // best effort: the client retries either way
  }
  ::close(fd);
  m::http_refused(options.name, reason).inc();
  // A flood is one log line every few seconds, not one per connection.
  ++unlogged_refusals;
  int64_t now = log::now_ms();
  if (now - last_refusal_log_ms < kRefusalLogEveryMs) return;
  log::warning(
      "http connections refused",
      {{"listener", options.name},
       {"peer", peer.to_string()},
       {"refused", std::to_string(unlogged_refusals)},
       {"reason",
        std::string(reason) == "total"
            ? "all " + std::to_string(options.max_connections) + " connections busy with requests"
            : "over " + std::to_string(options.max_per_client) + " connections from one address"}});
  last_refusal_log_ms = now;
  unlogged_refusals = 0;
}

void HttpServer::Impl::release(HttpConnection* connection) {
  auto it = open.find(connection);
  if (it == open.end()) return;
  slots.give_back(connection->peer().ip());
  m::http_connections(options.name).add(-1);
  open.erase(it);  // destroys the connection, unless a responder call is on the stack
}

HttpServer::HttpServer(Loop& loop, HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() = default;

const SocketAddress& HttpServer::address() const {
  return impl_->bound;
}

size_t HttpServer::connections() const {
  return impl_->open.size();
}

Status HttpServer::listen(const SocketAddress& address) {
  const std::string& name = impl_->options.name;
  if (impl_->listener) return Status::error(name + " already listening");
  impl_->listener.reset(
      evconnlistener_new_bind(impl_->loop.base(), &Impl::on_accept, impl_.get(),
                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                              SOMAXCONN, address.sa(), static_cast<int>(address.length)));
  if (!impl_->listener) {
    return Status::error("cannot listen on " + address.to_string() + " (" + name +
                         "): " + std::strerror(errno));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(evconnlistener_get_fd(impl_->listener.get()), reinterpret_cast<sockaddr*>(&bound),
                &length);
  impl_->bound = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&bound), length);
  impl_->guard = std::make_unique<AcceptGuard>(impl_->loop, impl_->listener.get(), name);
  return Status::ok();
}

}  // namespace hato::net
