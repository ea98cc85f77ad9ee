// http_client.h - a small HTTP/1.1 client on the loop: GET and POST over
// http:// and https://, for MTA-STS policies now and for webhooks and ACME later.
//
// One request is one connection ("Connection: close") unless the request asks to keep it
// (HttpRequest::keep_alive): names resolve through the
// net::Resolver, addresses are tried in turn until one connects, https://
// certificates are checked against the trust store of the TlsContext given (the
// system's CAs and `delivery.ca_file`) and against the URL's host name. Redirects
// are never followed: a 3xx comes back as a response like any other. A body over
// `max_body` and a request that outlasts `timeout` fail. Nothing here knows mail.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/loop.h"
#include "common/status.h"
#include "common/url.h"
#include "net/event_handles.h"
#include "net/resolver.h"
#include "net/tls.h"

namespace hato::net {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;  // Host, Connection, Content-Length are added
  std::string body;     // sent with Content-Length when method is not GET
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // the whole exchange
  size_t max_body = 1 << 20;
  // The connection may serve the next keep_alive request to the same scheme, host and port
  // (and this one may take such a connection). A kept connection idles for a few seconds at
  // most. A request whose kept connection closes before any byte of the answer is sent
  // again, once, on a new connection: only for requests that may be repeated (webhooks).
  bool keep_alive = false;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // names in lower case
  std::string body;
  // The first value of a header (name in any case), or "".
  std::string header(std::string_view name) const;
};

// Reads an HTTP/1.1 response as its bytes arrive: status line, headers, and a body
// framed by Content-Length, chunked transfer coding or the end of the connection.
// Separate from the socket so it can be tested and fuzzed on its own.
class HttpResponseParser {
 public:
  explicit HttpResponseParser(size_t max_body) : max_body_(max_body) {}
  // Feeds bytes; an error status when the response is malformed or too large. `used`, when
  // given, is how many bytes belonged to the response (the rest came after it).
  Status feed(std::string_view bytes, size_t* used);
  Status feed(std::string_view bytes) { return feed(bytes, nullptr); }
  // The peer closed the connection: completes a body read to the end, or fails.
  Status finish();
  bool complete() const { return state_ == State::kDone; }
  HttpResponse& response() { return response_; }
  // The response is complete, framed by its length (not by the end of the connection), in
  // HTTP/1.1 and without "Connection: close": the connection can carry another request.
  bool connection_reusable() const;

 private:
  enum class State { kStatus, kHeaders, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer, kDone };
  Status line(std::string_view text);
  Status body_bytes(std::string_view bytes, size_t* used);
  Status start_body();

  size_t max_body_;
  State state_ = State::kStatus;
  std::string buffer_;
  HttpResponse response_;
  bool until_close_ = false;
  bool http11_ = false;
  uint64_t remaining_ = 0;  // of the Content-Length body or of the current chunk
};

class HttpClient {
 public:
  // `tls` provides the trust store; its verification mode is set per connection.
  HttpClient(Loop& loop, Resolver& resolver, std::shared_ptr<TlsContext> tls);
  ~HttpClient();  // requests in flight are dropped; their callbacks never run
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `done` runs once, later, on the loop: the response (any status), or why there is none.
  void fetch(HttpRequest request, std::function<void(Result<HttpResponse>)> done);
  size_t in_flight() const { return exchanges_.size(); }

  class Exchange;

 private:
  struct Idle;
  void finished(Exchange* exchange);
  // Kept connections, by "scheme://host:port".
  void keep(std::string origin, std::string peer, BuffereventPtr bev);
  BuffereventPtr take_idle(const std::string& origin, std::string* peer);
  void drop_idle(Idle* idle);

  Loop& loop_;
  Resolver& resolver_;
  std::shared_ptr<TlsContext> tls_;
  std::vector<std::unique_ptr<Exchange>> exchanges_;
  std::vector<std::unique_ptr<Idle>> idle_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // posted callbacks hold it weakly
};

}  // namespace hato::net
