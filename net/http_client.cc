// http_client.cc - HTTP/1.1 requests on bufferevents, TLS verified against the trust store.
#include "net/http_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/strings.h"
#include "net/event_handles.h"

namespace hato::net {

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;  // status line and headers together
constexpr size_t kMaxHeaders = 100;

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return "";
}

// ---- The response parser ----

Status HttpResponseParser::feed(std::string_view bytes, size_t* used) {
  size_t total = bytes.size();
  if (used) *used = 0;
  while (!bytes.empty() && state_ != State::kDone) {
    if (state_ == State::kBody || state_ == State::kChunkData) {
      size_t used = 0;
      if (auto s = body_bytes(bytes, &used); !s) return s;
      bytes.remove_prefix(used);
      continue;
    }
    // Line-oriented states: collect up to LF.
    size_t nl = bytes.find('\n');
    size_t take = nl == std::string_view::npos ? bytes.size() : nl + 1;
    buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buffer_.size() > kMaxHeaderBytes) return Status::error("HTTP response header too long");
    if (buffer_.empty() || buffer_.back() != '\n') break;
    std::string text = std::move(buffer_);
    buffer_.clear();
    text.pop_back();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (auto s = line(text); !s) return s;
  }
  if (used) *used = total - bytes.size();
  return Status::ok();
}

bool HttpResponseParser::connection_reusable() const {
  if (state_ != State::kDone || until_close_ || !http11_) return false;
  return ascii_lower(response_.header("connection")).find("close") == std::string::npos;
}

Status HttpResponseParser::line(std::string_view text) {
  switch (state_) {
    case State::kStatus: {
      // "HTTP/1.1 200 OK"
      if (text.size() < 12 || text.substr(0, 5) != "HTTP/" || text[8] != ' ')
        return Status::error("not an HTTP response: " + std::string(text.substr(0, 80)));
      int code = 0;
      auto [p, ec] = std::from_chars(text.data() + 9, text.data() + 12, code);
      if (ec != std::errc() || p != text.data() + 12 || code < 100 || code > 999)
        return Status::error("bad HTTP status line: " + std::string(text.substr(0, 80)));
      response_.status = code;
      http11_ = text.substr(5, 4) == "1.1 ";
      state_ = State::kHeaders;
      return Status::ok();
    }
    case State::kHeaders: {
      if (text.empty()) {
        // 1xx responses are interim: the real one follows.
        if (response_.status < 200) {
          response_ = HttpResponse{};
          state_ = State::kStatus;
          return Status::ok();
        }
        return start_body();
      }
      size_t colon = text.find(':');
      if (colon == std::string_view::npos || colon == 0)
        return Status::error("bad HTTP header line: " + std::string(text.substr(0, 80)));
      if (response_.headers.size() >= kMaxHeaders) return Status::error("too many HTTP headers");
      response_.headers.emplace_back(ascii_lower(trim(text.substr(0, colon))),
                                     std::string(trim(text.substr(colon + 1))));
      return Status::ok();
    }
    case State::kChunkSize: {
      std::string_view size = trim(text.substr(0, text.find(';')));
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(size.data(), size.data() + size.size(), n, 16);
      if (size.empty() || ec != std::errc() || p != size.data() + size.size())
        return Status::error("bad chunk size in HTTP response");
      if (n > max_body_ || response_.body.size() + n > max_body_)
        return Status::error("HTTP response body larger than " + std::to_string(max_body_) +
                             " bytes");
      remaining_ = n;
      state_ = n == 0 ? State::kTrailer : State::kChunkData;
      return Status::ok();
    }
    case State::kChunkEnd:
      if (!text.empty()) return Status::error("bad chunk end in HTTP response");
      state_ = State::kChunkSize;
      return Status::ok();
    case State::kTrailer:
      if (text.empty()) state_ = State::kDone;
      return Status::ok();
    default:
      return Status::ok();
  }
}

Status HttpResponseParser::start_body() {
  int code = response_.status;
  if (code == 204 || code == 304) {
    state_ = State::kDone;
    return Status::ok();
  }
  std::string te = ascii_lower(response_.header("transfer-encoding"));
  if (!te.empty()) {
    if (te != "chunked") return Status::error("unsupported transfer coding: " + te);
    state_ = State::kChunkSize;
    return Status::ok();
  }
  std::string length = response_.header("content-length");
  if (!length.empty()) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (ec != std::errc() || p != length.data() + length.size())
      return Status::error("bad Content-Length in HTTP response");
    if (n > max_body_)
      return Status::error("HTTP response body larger than " + std::to_string(max_body_) +
                           " bytes");
    remaining_ = n;
    state_ = n == 0 ? State::kDone : State::kBody;
    return Status::ok();
  }
  until_close_ = true;
  state_ = State::kBody;
  return Status::ok();
}

Status HttpResponseParser::body_bytes(std::string_view bytes, size_t* used) {
  size_t n = until_close_ ? bytes.size()
                          : static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
  if (response_.body.size() + n > max_body_)
    return Status::error("HTTP response body larger than " + std::to_string(max_body_) + " bytes");
  response_.body.append(bytes.substr(0, n));
  *used = n;
  if (!until_close_) {
    remaining_ -= n;
    if (remaining_ == 0) state_ = state_ == State::kBody ? State::kDone : State::kChunkEnd;
  }
  return Status::ok();
}

Status HttpResponseParser::finish() {
  if (state_ == State::kDone) return Status::ok();
  if (state_ == State::kBody && until_close_) {
    state_ = State::kDone;
    return Status::ok();
  }
  return Status::error("connection closed before the HTTP response was complete");
}

// ---- One request ----

class HttpClient::Exchange {
 public:
  Exchange(HttpClient& client, HttpRequest request, std::function<void(Result<HttpResponse>)> done)
      : client_(client),
        request_(std::move(request)),
        done_(std::move(done)),
        parser_(request_.max_body),
        deadline_(client.loop_, [this] { fail("no answer within " + timeout_text()); }) {}

  ~Exchange() { drop_connection(); }

  void start() {
    auto url = parse_url(request_.url);
    if (!url) return fail(url.message());
    url_ = std::move(url.value());
    deadline_.arm(request_.timeout);
    if (request_.keep_alive) {
      origin_ = (url_.https ? "https://" : "http://") + url_.host + ":" + std::to_string(url_.port);
      bev_ = client_.take_idle(origin_, &peer_);
    }
    if (bev_) {
      reused_ = true;
      connected_ = true;
      bufferevent_setcb(bev_.get(), &Exchange::on_read, nullptr, &Exchange::on_event, this);
      bufferevent_set_timeouts(bev_.get(), nullptr, nullptr);
      bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
      return send_request();
    }
    connect();
  }

 private:
  // A new connection: the URL's host resolved (unless it is an address), then next_address().
  void connect() {
    if (auto literal = SocketAddress::parse(url_.host, 0)) {
      addresses_ = {literal.value()};
      return next_address();
    }
    client_.resolver_.addresses(url_.host, [this](AddressResult r) {
      if (r.status != DnsStatus::kOk)
        return fail("cannot find an address for " + url_.host + ": " +
                    (r.error.empty() ? dns_status_name(r.status) : r.error));
      addresses_ = std::move(r.addresses);
      next_address();
    });
  }

  std::string timeout_text() const { return std::to_string(request_.timeout.count() / 1000) + "s"; }

  // Addresses are tried until one connects (and, for https, completes the handshake).
  void next_address() {
    drop_connection();
    if (next_ >= addresses_.size()) {
      return fail(last_error_.empty() ? "no address for " + url_.host : last_error_);
    }
    SocketAddress to = addresses_[next_++];
    to.set_port(url_.port);
    peer_ = url_.host + "[" + to.ip() + "]:" + std::to_string(url_.port);
    int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error_ = std::string("socket: ") + std::strerror(errno);
      return next_address();
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (url_.https) {
      SSL* ssl = client_.tls_->new_ssl();
      if (!ssl) {
        ::close(fd);
        return fail("cannot start TLS: " + openssl_error());
      }
      // Verified here even though the shared context does not verify by default.
      SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
      if (SocketAddress::parse(url_.host, 0)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str());
      } else {
        SSL_set_tlsext_host_name(ssl, url_.host.c_str());
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(ssl, url_.host.c_str());
      }
      bev_.reset(bufferevent_openssl_socket_new(client_.loop_.base(), fd, ssl,
                                                BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE));
      if (bev_) bufferevent_openssl_set_allow_dirty_shutdown(bev_.get(), 1);
    } else {
      bev_.reset(bufferevent_socket_new(client_.loop_.base(), fd, BEV_OPT_CLOSE_ON_FREE));
    }
    if (!bev_) {
      ::close(fd);
      return fail("cannot create a connection buffer");
    }
    connected_ = false;
    bufferevent_setcb(bev_.get(), &Exchange::on_read, nullptr, &Exchange::on_event, this);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(bev_.get(), to.sa(), static_cast<int>(to.length)) != 0) {
      last_error_ = "connect to " + peer_ + ": " + std::strerror(errno);
      client_.loop_.post(guarded([this] { next_address(); }));
    }
  }

  void send_request() {
    std::string head = request_.method + " " + url_.target + " HTTP/1.1\r\n";
    bool default_port = url_.port == (url_.https ? 443 : 80);
    std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    head += "Host: " + host + (default_port ? "" : ":" + std::to_string(url_.port)) + "\r\n";
    if (!request_.keep_alive) head += "Connection: close\r\n";
    bool has_agent = false;
    for (const auto& [k, v] : request_.headers) {
      has_agent = has_agent || iequals(k, "user-agent");
      head += k + ": " + v + "\r\n";
    }
    if (!has_agent) head += "User-Agent: hato\r\n";
    if (request_.method != "GET" && request_.method != "HEAD")
      head += "Content-Length: " + std::to_string(request_.body.size()) + "\r\n";
    head += "\r\n";
    bufferevent_write(bev_.get(), head.data(), head.size());
    if (!request_.body.empty())
      bufferevent_write(bev_.get(), request_.body.data(), request_.body.size());
  }

  static void on_read(bufferevent* bev, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    evbuffer* in = bufferevent_get_input(bev);
    while (self->bev_.get() == bev && evbuffer_get_length(in) > 0) {
      char buf[16384];
      int got = evbuffer_copyout(in, buf, sizeof buf);
      if (got <= 0) break;
      self->answered_ = true;
      size_t used = 0;
      if (auto s = self->parser_.feed(std::string_view(buf, static_cast<size_t>(got)), &used); !s)
        return self->fail(s.message() + " (from " + self->peer_ + ")");
      evbuffer_drain(in, used);
      if (self->parser_.complete()) return self->succeed();
    }
  }

  static void on_event(bufferevent* bev, short what, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
      self->connected_ = true;
      self->send_request();
      return;
    }
    if (self->reused_ && !self->answered_ && evbuffer_get_length(bufferevent_get_input(bev)) == 0) {
      // The kept connection was closed by the server meanwhile: once more on a new one.
      self->reused_ = false;
      self->connected_ = false;
      self->drop_connection();
      self->client_.loop_.post(self->guarded([self] { self->connect(); }));
      return;
    }
    if ((what & BEV_EVENT_EOF) && self->connected_) {
      on_read(bev, arg);  // whatever is still buffered
      if (self->bev_.get() != bev) return;
      if (auto s = self->parser_.finish(); !s)
        return self->fail(s.message() + " (from " + self->peer_ + ")");
      return self->succeed();
    }
    std::string why = self->describe_error(bev, what);
    if (!self->connected_) {
      // This address did not work out: the next one may.
      self->last_error_ = why;
      self->client_.loop_.post(self->guarded([self] { self->next_address(); }));
      self->drop_connection();
      return;
    }
    self->fail(why);
  }

  std::string describe_error(bufferevent* bev, short what) {
    if (url_.https && !connected_) {
      SSL* ssl = bufferevent_openssl_get_ssl(bev);
      long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
      if (verify != X509_V_OK)
        return "certificate of " + peer_ + " not trusted: " + X509_verify_cert_error_string(verify);
      if (unsigned long e = bufferevent_get_openssl_error(bev)) {
        char reason[256];
        ERR_error_string_n(e, reason, sizeof reason);
        return "TLS handshake with " + peer_ + " failed: " + reason;
      }
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (!connected_)
      return "connect to " + peer_ + ": " + (err ? std::strerror(err) : "connection failed");
    if (what & BEV_EVENT_EOF) return "connection closed by " + peer_;
    return "connection to " + peer_ + " broke" +
           (err ? std::string(": ") + std::strerror(err) : "");
  }

  void succeed() {
    // Nothing may follow the answer on a connection kept for the next request.
    if (request_.keep_alive && parser_.connection_reusable() &&
        evbuffer_get_length(bufferevent_get_input(bev_.get())) == 0)
      client_.keep(origin_, peer_, std::move(bev_));
    auto response = std::move(parser_.response());
    finish(std::move(response));
  }

  void fail(std::string why) { finish(Status::error(std::move(why))); }

  void finish(Result<HttpResponse> result) {
    if (finished_) return;
    finished_ = true;
    deadline_.cancel();
    drop_connection();
    auto done = std::move(done_);
    // Later on the loop, and only while the client lives.
    std::weak_ptr<int> alive = client_.alive_;
    client_.loop_.post([alive, done = std::move(done), result = std::move(result)]() mutable {
      if (!alive.expired()) done(std::move(result));
    });
    client_.finished(this);
  }

  void drop_connection() { bev_.reset(); }

  // A posted step that does nothing once this exchange is over or gone.
  std::function<void()> guarded(std::function<void()> fn) {
    std::weak_ptr<int> token = token_;
    return [this, token, fn = std::move(fn)] {
      if (!token.expired() && !finished_) fn();
    };
  }

  HttpClient& client_;
  HttpRequest request_;
  std::function<void(Result<HttpResponse>)> done_;
  HttpResponseParser parser_;
  Timer deadline_;
  Url url_;
  std::vector<SocketAddress> addresses_;
  size_t next_ = 0;
  std::string peer_;
  std::string origin_;  // "scheme://host:port", for a kept connection
  std::string last_error_;
  net::BuffereventPtr bev_;
  bool reused_ = false;    // bev_ is a kept connection
  bool answered_ = false;  // a byte of the answer came
  bool connected_ = false;
  bool finished_ = false;
  std::shared_ptr<int> token_ = std::make_shared<int>(0);
};

HttpClient::HttpClient(Loop& loop, Resolver& resolver, std::shared_ptr<TlsContext> tls)
    : loop_(loop), resolver_(resolver), tls_(std::move(tls)) {}

HttpClient::~HttpClient() = default;

void HttpClient::fetch(HttpRequest request, std::function<void(Result<HttpResponse>)> done) {
  exchanges_.push_back(std::make_unique<Exchange>(*this, std::move(request), std::move(done)));
  exchanges_.back()->start();
}

// ---- Kept connections ----

namespace {
constexpr timeval kIdleFor = {4, 0};  // under the 5 s that common servers (Node, Apache) allow
constexpr size_t kIdlePerOrigin = 2;
}  // namespace

struct HttpClient::Idle {
  HttpClient* client;
  std::string origin;
  std::string peer;
  BuffereventPtr bev;
};

void HttpClient::keep(std::string origin, std::string peer, BuffereventPtr bev) {
  size_t same =
      std::count_if(idle_.begin(), idle_.end(), [&](const auto& i) { return i->origin == origin; });
  if (same >= kIdlePerOrigin) return;  // `bev` closes here
  auto idle =
      std::make_unique<Idle>(Idle{this, std::move(origin), std::move(peer), std::move(bev)});
  // While idle, anything from the server (data, its close, the idle time over) ends it.
  auto drop = [](bufferevent*, void* arg) {
    auto* i = static_cast<Idle*>(arg);
    i->client->drop_idle(i);
  };
  auto dropped = [](bufferevent*, short, void* arg) {
    auto* i = static_cast<Idle*>(arg);
    i->client->drop_idle(i);
  };
  bufferevent_setcb(idle->bev.get(), drop, nullptr, dropped, idle.get());
  bufferevent_set_timeouts(idle->bev.get(), &kIdleFor, nullptr);
  bufferevent_enable(idle->bev.get(), EV_READ);
  idle_.push_back(std::move(idle));
}

BuffereventPtr HttpClient::take_idle(const std::string& origin, std::string* peer) {
  // The most recently kept first: the least likely to have been closed by the server.
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if ((*it)->origin != origin) continue;
    BuffereventPtr bev = std::move((*it)->bev);
    *peer = std::move((*it)->peer);
    idle_.erase(std::next(it).base());
    return bev;
  }
  return nullptr;
}

void HttpClient::drop_idle(Idle* idle) {
  auto it =
      std::find_if(idle_.begin(), idle_.end(), [idle](const auto& i) { return i.get() == idle; });
  if (it != idle_.end()) idle_.erase(it);  // closes it, from its own callback as libevent allows
}

void HttpClient::finished(Exchange* exchange) {
  // Destroyed later: the exchange may be deep in one of its own callbacks now.
  auto it = std::find_if(exchanges_.begin(), exchanges_.end(),
                         [exchange](const auto& e) { return e.get() == exchange; });
  if (it == exchanges_.end()) return;
  std::shared_ptr<Exchange> owned(std::move(*it));
  exchanges_.erase(it);
  loop_.post([owned] {});
}

}  // namespace hato::net
