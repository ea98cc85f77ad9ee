// http_server.h - the HTTP/1.1 server under every web listener Hato runs itself: the MTA-STS
// policy, ACME HTTP-01 answers and metrics today, the HTTP API and the dashboard to come.
//
// Built for listeners that face the internet, where libevent's evhttp falls short (it has no
// connection cap, and a client sending its headers a byte at a time keeps it open past any
// timeout):
// - a cap on connections in all and per client address; at the cap, the connection that has
//   waited longest without sending a whole request is closed to make room, so a slow-header
//   flood from many addresses cannot lock real clients out;
// - a deadline for the request head that holds however the bytes trickle in (it runs from the
//   accept, or from the first byte of a kept-alive connection's next request, and covers the
//   TLS handshake), and deadlines for the body, for writing the answer and for idling;
// - strict, bounded parsing (net/http_request_parser.h);
// - an AcceptGuard (out of descriptors: pause, do not spin);
// - answers that may come later (after a durable commit): the handler gets an HttpResponder,
//   safe to call after the client has gone. One request at a time per connection; pipelined
//   requests wait in the socket buffer;
// - streamed answers (server-sent events): HttpResponder::stream() sends the head, then the
//   handler's HttpStream sends pieces as they come, into a bounded output buffer (a piece
//   that does not fit is refused, never queued without limit); the stream is dropped when
//   the client goes, and the connection closes when it ends.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/loop.h"
#include "common/net.h"
#include "common/status.h"
#include "net/http_request_parser.h"

typedef struct ssl_st SSL;

namespace hato::net {

struct HttpServerResponse {
  int status = 200;
  // Content-Length, Date and Connection are added by the server.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after this answer
};

struct HttpServerOptions {
  std::string name;  // the listener's name in logs and metrics
  HttpParseLimits parse;
  size_t max_connections = 256;
  size_t max_per_client = 16;
  std::chrono::milliseconds head_timeout{10'000};
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds idle_timeout{30'000};
  // A new SSL for each connection (the server owns it); unset: plain HTTP.
  std::function<SSL*()> tls;
  // The answer to a request refused before the handler saw it (413, 431, 400, ...), from the
  // status and the reason in words; unset: the reason as text/plain. An API answers in JSON.
  std::function<HttpServerResponse(int status, const std::string& reason)> refusal;
};

class HttpServer;
class HttpConnection;

// The body of a streamed answer, a piece at a time. Copyable; once the client or the server
// has gone, or after end(), send() refuses and open() is false.
class HttpStream {
 public:
  HttpStream() = default;
  // Queues `piece`; false when the stream is closed or `piece` does not fit in the bound.
  bool send(std::string_view piece) const;
  bool open() const;
  // Ends the answer once what is queued has been written; the connection then closes.
  void end() const;

 private:
  friend class HttpResponder;
  HttpStream(std::weak_ptr<HttpConnection> connection, uint64_t serial)
      : connection_(std::move(connection)), serial_(serial) {}
  std::weak_ptr<HttpConnection> connection_;
  uint64_t serial_ = 0;
};

// Answers one request, once. Copyable; calls after the first, or after the connection or the
// server has gone, do nothing.
class HttpResponder {
 public:
  void operator()(HttpServerResponse response) const;
  // Answers with `head` (its status and headers; no Content-Length, Connection: close) and a
  // body to come through the stream, whose unwritten bytes stay within `max_buffered`.
  HttpStream stream(HttpServerResponse head, size_t max_buffered) const;

 private:
  friend class HttpConnection;
  HttpResponder(std::weak_ptr<HttpConnection> connection, uint64_t serial)
      : connection_(std::move(connection)), serial_(serial) {}
  std::weak_ptr<HttpConnection> connection_;
  uint64_t serial_;
};

class HttpServer {
 public:
  using Handler = std::function<void(HttpServerRequest& request, HttpResponder respond)>;
  HttpServer(Loop& loop, HttpServerOptions options, Handler handler);
  ~HttpServer();  // open connections are closed; their responders do nothing
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `address` (port 0: the kernel picks one); address() is then the one bound.
  [[nodiscard]] Status listen(const SocketAddress& address);
  const SocketAddress& address() const;
  size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hato::net
