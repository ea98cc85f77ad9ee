// http_request_parser.cc - one HTTP/1.x request, strictly framed (RFC 9112).
#include "net/http_request_parser.h"

#include <algorithm>

#include "common/strings.h"

namespace hato::net {

namespace {

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

// Field values: visible characters, obs-text, space and tab; no other control character.
bool is_field_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string HttpServerRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return "";
}

std::string HttpServerRequest::host() const {
  std::string host = header("host");
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    host = close == std::string::npos ? "" : host.substr(1, close - 1);
  } else if (size_t colon = host.find(':'); colon != std::string::npos) {
    host.resize(colon);
  }
  host = ascii_lower(host);
  while (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

bool HttpServerRequest::keep_alive() const {
  std::string connection = header("connection");
  if (has_token(connection, "close")) return false;
  return minor_version >= 1 || has_token(connection, "keep-alive");
}

void HttpRequestParser::reset() {
  state_ = State::kHead;
  started_ = false;
  head_.clear();
  body_left_ = 0;
  request_ = HttpServerRequest{};
  error_.clear();
}

int HttpRequestParser::fail(int status, std::string why) {
  state_ = State::kFailed;
  failed_status_ = status;
  error_ = std::move(why);
  return status;
}

int HttpRequestParser::feed(std::string_view input, size_t* used) {
  *used = 0;
  if (state_ == State::kDone) return 200;
  if (state_ == State::kFailed) return failed_status_;
  if (state_ == State::kHead) {
    // Empty lines before a request are skipped (RFC 9112 2.2): some clients send CRLF after a body.
    if (head_.empty()) {
      while (input.size() - *used >= 2 && input[*used] == '\r' && input[*used + 1] == '\n')
        *used += 2;
    }
    std::string_view rest = input.substr(*used);
    if (rest.empty()) return 0;
    started_ = true;
    size_t old = head_.size();
    size_t take = std::min(rest.size(), limits_.max_head - old);
    head_.append(rest.substr(0, take));
    size_t end = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
    if (end == std::string::npos) {
      *used += take;
      if (head_.size() >= limits_.max_head)
        return fail(431, "request head over " + std::to_string(limits_.max_head) + " bytes");
      return 0;
    }
    end += 4;
    *used += end - old;
    head_.resize(end);
    int status = head(std::string_view(head_).substr(0, end - 2));
    if (status != 0) return status;
    if (body_left_ == 0) {
      state_ = State::kDone;
      return 200;
    }
    state_ = State::kBody;
  }
  std::string_view rest = input.substr(*used);
  size_t take = static_cast<size_t>(std::min<uint64_t>(rest.size(), body_left_));
  request_.body.append(rest.substr(0, take));
  body_left_ -= take;
  *used += take;
  if (body_left_ > 0) return 0;
  state_ = State::kDone;
  return 200;
}

// `text`: the head, each line ending in CRLF, without the empty line.
int HttpRequestParser::head(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
      return fail(400, "a line ends in a bare LF");
    if (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))
      return fail(400, "a bare CR in the request head");
  }
  size_t eol = text.find("\r\n");
  if (int status = request_line(text.substr(0, eol)); status != 0) return status;
  text.remove_prefix(eol + 2);
  while (!text.empty()) {
    eol = text.find("\r\n");
    if (request_.headers.size() >= limits_.max_headers)
      return fail(431, "more than " + std::to_string(limits_.max_headers) + " header fields");
    if (int status = header_line(text.substr(0, eol)); status != 0) return status;
    text.remove_prefix(eol + 2);
  }
  if (request_.minor_version >= 1 && request_.header("host").empty())
    return fail(400, "an HTTP/1.1 request without Host");
  if (!request_.header("transfer-encoding").empty())
    return fail(411, "Transfer-Encoding is not accepted; send a Content-Length");
  std::string length;
  for (const auto& [name, value] : request_.headers) {
    if (name != "content-length") continue;
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail(400, "a malformed Content-Length");
    if (!length.empty() && length != value) return fail(400, "two different Content-Lengths");
    length = value;
  }
  body_left_ = length.empty() ? 0 : std::stoull(length);
  if (body_left_ > limits_.max_body)
    return fail(413, "a body of " + length + " bytes, over the " +
                         std::to_string(limits_.max_body) + " accepted here");
  return 0;
}

int HttpRequestParser::request_line(std::string_view line) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "a malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "a malformed method");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return fail(400, "a malformed HTTP version");
  if (version[5] != '1') return fail(505, "HTTP version " + std::string(version.substr(5)));
  request_.minor_version = version[7] - '0';
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
      }))
    return fail(400, "a malformed request target");
  request_.method = std::string(method);
  request_.target = std::string(target);
  std::string_view path = target;
  // The absolute form (RFC 9112 3.2.2) is read as its path; the Host header still decides.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (istarts_with(path, scheme)) {
      size_t slash = path.find('/', scheme.size());
      path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
  }
  if (path != "*" && path[0] != '/') return fail(400, "a malformed request target");
  size_t q = path.find('?');
  request_.path = std::string(path.substr(0, q));
  if (q != std::string_view::npos) request_.query = std::string(path.substr(q + 1));
  return 0;
}

int HttpRequestParser::header_line(std::string_view line) {
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t'))
    return fail(400, "a folded header line");
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
    return fail(400, "a malformed header field");
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (!is_field_value(value)) return fail(400, "a control character in a header field");
  std::string name = ascii_lower(line.substr(0, colon));
  if (name == "host" && !request_.header("host").empty()) return fail(400, "two Host fields");
  request_.headers.emplace_back(std::move(name), std::string(value));
  return 0;
}

const char* http_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace hato::net
