// admin_client.cc - one request, one answer, one Unix socket, with a deadline.
//
// The deadline is idle time, renewed by every byte; only a followed stream
// (`queue tail`) may stay silent once its head has arrived.
#include "cli/admin_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "common/strings.h"
#include "common/unique_fd.h"

namespace hato::cli {

namespace {

using Clock = std::chrono::steady_clock;

// How long the daemon may stay silent before we stop waiting. Measured from
// the last byte rather than the start, so a long listing is never cut off.
constexpr std::chrono::seconds kIdleTimeout(10);

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// What the head of a response says about its body.
struct Head {
  int status = 0;
  std::string content_type;
  std::optional<size_t> content_length;
};

// parse_head - reads the status line and the headers we care about
Result<Head> parse_head(std::string_view head) {
  auto malformed = [] { return Result<Head>::error("malformed answer from the daemon"); };
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.0 200 OK"
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    return malformed();
  }
  Head out;
  auto [end, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, out.status);
  if (ec != std::errc() || end != status_line.data() + 12 || out.status < 100) return malformed();

  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Type")) {
      std::string_view type = trim(value.substr(0, value.find(';')));
      out.content_type = ascii_lower(type);
    } else if (iequals(name, "Content-Length")) {
      size_t length = 0;
      auto [e, err] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (err != std::errc() || e != value.data() + value.size()) return malformed();
      out.content_length = length;
    } else if (iequals(name, "Transfer-Encoding") && !iequals(value, "identity")) {
      // Not sent to HTTP/1.0 clients; refuse rather than hand back chunk framing.
      return Result<Head>::error("unsupported answer from the daemon: Transfer-Encoding " +
                                 std::string(value));
    }
  }
  return out;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a daemon that hangs up must not kill the CLI with SIGPIPE.
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// exchange - one request and its answer; streams a 200 body to `on_body` when given
Result<AdminResponse> exchange(const std::string& socket_path, std::string_view method,
                               const std::string& path,
                               const std::function<bool(std::string_view)>* on_body, bool follow,
                               bool* unreachable) {
  if (unreachable) *unreachable = false;
  auto no_daemon = [&](std::string message) {
    if (unreachable) *unreachable = true;
    return Result<AdminResponse>::error(std::move(message));
  };
  const std::string not_running = "the daemon is not running (no answer on " + socket_path + ")";
  const std::string silent = "the daemon did not answer on " + socket_path + " within " +
                             std::to_string(kIdleTimeout.count()) + " seconds";

  sockaddr_un address{};
  if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
    return Result<AdminResponse>::error("admin socket path must be 1 to " +
                                        std::to_string(sizeof(address.sun_path) - 1) +
                                        " bytes: " + socket_path);
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Result<AdminResponse>::error(std::string("socket: ") + strerror(errno));
  // Bounds connect() when the daemon's backlog is full, and send().
  timeval tv{};
  tv.tv_sec = kIdleTimeout.count();
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    return Result<AdminResponse>::error(std::string("setsockopt: ") + strerror(errno));
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    switch (errno) {
      case ENOENT:
      case ECONNREFUSED:
      case ENOTDIR:
        return no_daemon(not_running);
      case EAGAIN:
      case ETIMEDOUT:
        return no_daemon(silent);
      default:
        return Result<AdminResponse>::error("cannot connect to " + socket_path + ": " +
                                            strerror(errno));
    }
  }

  std::string request =
      std::string(method) + " " + path + " HTTP/1.0\r\nHost: localhost\r\nUser-Agent: hato\r\n";
  if (method == "POST") request += "Content-Length: 0\r\n";
  request += "\r\n";
  if (!send_all(fd.get(), request)) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return no_daemon(silent);
    if (errno == EPIPE || errno == ECONNRESET) return no_daemon(not_running);
    return Result<AdminResponse>::error("sending to the daemon on " + socket_path + ": " +
                                        strerror(errno));
  }

  std::string raw;
  std::optional<Head> head;
  size_t body_start = 0;
  bool streaming = false;  // the body goes to on_body, not into raw
  size_t streamed = 0;     // body bytes handed to on_body
  Clock::time_point deadline = Clock::now() + kIdleTimeout;
  for (;;) {
    if (head && head->content_length) {
      size_t have = streaming ? streamed : raw.size() - body_start;
      if (have >= *head->content_length) break;
    }
    int wait_ms = -1;  // following a stream: as long as it takes
    if (!head || !(follow && streaming)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return no_daemon(silent);
      wait_ms = static_cast<int>(left.count());
    }
    pollfd p{fd.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Result<AdminResponse>::error(std::string("poll: ") + strerror(errno));
    }
    if (ready == 0) return no_daemon(silent);

    size_t old_size = raw.size();
    raw.resize(old_size + 64 * 1024);
    ssize_t n = ::read(fd.get(), raw.data() + old_size, raw.size() - old_size);
    raw.resize(old_size + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Result<AdminResponse>::error("reading from the daemon on " + socket_path + ": " +
                                          strerror(errno));
    }
    if (n == 0) break;  // HTTP/1.0: the daemon closes when it is done
    deadline = Clock::now() + kIdleTimeout;

    if (!head) {
      // Search only the new bytes (and 3 before, for a split "\r\n\r\n").
      size_t from = old_size >= 3 ? old_size - 3 : 0;
      size_t end = raw.find("\r\n\r\n", from);
      if (end == std::string::npos) continue;
      Result<Head> parsed = parse_head(std::string_view(raw).substr(0, end));
      if (!parsed) return parsed.status();
      head = std::move(parsed).value();
      body_start = end + 4;
      if (on_body && head->status == 200) {
        streaming = true;
        raw.erase(0, body_start);
        body_start = 0;
      }
    }
    if (streaming && !raw.empty()) {
      std::string_view piece = raw;
      if (head->content_length) {
        piece = piece.substr(0, std::min(piece.size(), *head->content_length - streamed));
      }
      streamed += piece.size();
      bool more = (*on_body)(piece);
      raw.clear();
      if (!more) break;
    }
  }

  if (!head) {
    return Result<AdminResponse>::error("the daemon on " + socket_path +
                                        " closed the connection without an answer");
  }
  AdminResponse response;
  response.status = head->status;
  response.content_type = std::move(head->content_type);
  if (streaming) {
    if (head->content_length && streamed < *head->content_length) {
      return Result<AdminResponse>::error("the daemon's answer was cut short");
    }
    return response;
  }
  size_t body_size = raw.size() - body_start;
  if (head->content_length && body_size < *head->content_length) {
    return Result<AdminResponse>::error("the daemon's answer was cut short");
  }
  if (head->content_length) body_size = *head->content_length;
  raw.resize(body_start + body_size);
  raw.erase(0, body_start);
  response.body = std::move(raw);
  return response;
}

}  // namespace

Result<AdminResponse> admin_get(const std::string& socket_path, const std::string& path,
                                bool* unreachable) {
  return exchange(socket_path, "GET", path, nullptr, false, unreachable);
}

Result<AdminResponse> admin_post(const std::string& socket_path, const std::string& path,
                                 bool* unreachable) {
  return exchange(socket_path, "POST", path, nullptr, false, unreachable);
}

Result<AdminResponse> admin_stream(const std::string& socket_path, const std::string& path,
                                   const std::function<bool(std::string_view)>& on_body,
                                   bool follow, bool* unreachable) {
  return exchange(socket_path, "GET", path, &on_body, follow, unreachable);
}

}  // namespace hato::cli
