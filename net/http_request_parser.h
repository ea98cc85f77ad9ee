// http_request_parser.h - reads one HTTP/1.x request as its bytes arrive, for the servers
// Hato runs itself (MTA-STS, ACME HTTP-01, metrics; the HTTP API and the dashboard to come).
//
// Strict where leniency lets one request be read two ways (request smuggling): lines end in
// CRLF only, no folded headers, no space before a colon, one Content-Length, and no
// Transfer-Encoding at all (411: every client these servers expect sends a length). Bounded:
// the head (request line and headers) and the body each have a limit, and a request over one
// is refused with the status to answer (431, 413) before more of it is read. Separate from the
// socket so it can be tested and fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.h"

namespace hato::net {

struct HttpServerRequest {
  std::string method;  // as sent: methods are case-sensitive
  std::string target;  // the raw request-target
  std::string path;    // the target up to '?', not decoded
  std::string query;   // after '?', not decoded
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  // Set by the server, not the parser: who sent it and over what.
  SocketAddress peer;
  std::string tls_version;  // "TLSv1.3"; empty for plain HTTP
  std::string tls_cipher;
  // The first value of a header (name in any case), or "".
  std::string header(std::string_view name) const;
  // The Host header in lower case, without port or trailing dot.
  std::string host() const;
  // Whether the client asked to keep the connection open after this request.
  bool keep_alive() const;
};

struct HttpParseLimits {
  size_t max_head = 16 * 1024;  // request line and headers together
  size_t max_headers = 100;
  size_t max_body = 0;  // a longer Content-Length is refused with 413
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(HttpParseLimits limits) : limits_(limits) {}

  // Consumes bytes from the front of `input` up to the end of one request. Returns 0 while
  // more is needed, 200 when the request is complete (request()), or the status to answer
  // when it is refused (400, 405, 411, 413, 431, 501, 505); error() then says why.
  int feed(std::string_view input, size_t* used);
  // Whether any byte of a request has arrived (a connection that sent nothing is not owed a 408).
  bool started() const { return started_; }
  bool in_body() const { return state_ == State::kBody; }
  HttpServerRequest& request() { return request_; }
  const std::string& error() const { return error_; }
  // Ready for the next request on the same connection.
  void reset();

 private:
  enum class State { kHead, kBody, kDone, kFailed };
  int head(std::string_view text);
  int request_line(std::string_view line);
  int header_line(std::string_view line);
  int fail(int status, std::string why);

  HttpParseLimits limits_;
  State state_ = State::kHead;
  bool started_ = false;
  std::string head_;  // bytes of the head so far
  uint64_t body_left_ = 0;
  HttpServerRequest request_;
  std::string error_;
  int failed_status_ = 0;
};

// The reason phrase for a status code ("Not Found"); "Unknown" for one not listed.
const char* http_reason(int status);

}  // namespace hato::net
