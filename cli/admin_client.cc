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

#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"
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

// The daemon at the other end of the admin socket, and the words for its absence.
struct Daemon {
  const std::string& socket_path;
  bool* unreachable;
  std::string not_running;
  std::string silent;

  // no_answer - an error that means there is no daemon to talk to
  Status no_answer(const std::string& message) const {
    if (unreachable) *unreachable = true;
    return Status::error(message);
  }
};

// connect_daemon - a socket connected to the daemon, its send() bounded by the idle timeout
Result<UniqueFd> connect_daemon(const Daemon& daemon) {
  const std::string& socket_path = daemon.socket_path;
  sockaddr_un address{};
  if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
    return Status::error("admin socket path must be 1 to " +
                         std::to_string(sizeof(address.sun_path) - 1) + " bytes: " + socket_path);
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::error(std::string("socket: ") + strerror(errno));
  // Bounds connect() when the daemon's backlog is full, and send().
  timeval tv{};
  tv.tv_sec = kIdleTimeout.count();
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    return Status::error(std::string("setsockopt: ") + strerror(errno));
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    switch (errno) {
      case ENOENT:
      case ECONNREFUSED:
      case ENOTDIR:
        return daemon.no_answer(daemon.not_running);
      case EAGAIN:
      case ETIMEDOUT:
        return daemon.no_answer(daemon.silent);
      default:
        return Status::error("cannot connect to " + socket_path + ": " + strerror(errno));
    }
  }
  return fd;
}

// send_request - an HTTP/1.0 request without a body
Status send_request(int fd, const Daemon& daemon, std::string_view method,
                    const std::string& path) {
  std::string request =
      std::string(method) + " " + path + " HTTP/1.0\r\nHost: localhost\r\nUser-Agent: hato\r\n";
  if (method == "POST") request += "Content-Length: 0\r\n";
  request += "\r\n";
  if (send_all(fd, request)) return Status::ok();
  if (errno == EAGAIN || errno == EWOULDBLOCK) return daemon.no_answer(daemon.silent);
  if (errno == EPIPE || errno == ECONNRESET) return daemon.no_answer(daemon.not_running);
  return Status::error("sending to the daemon on " + daemon.socket_path + ": " + strerror(errno));
}

// The answer as it arrives: the head, then the body, kept in `raw` or handed to on_body.
struct Reception {
  std::string raw;
  std::optional<Head> head;
  size_t body_start = 0;
  bool streaming = false;  // the body goes to on_body, not into raw
  size_t streamed = 0;     // body bytes handed to on_body

  // complete - all of a Content-Length body is in
  bool complete() const {
    if (!head || !head->content_length) return false;
    size_t have = streaming ? streamed : raw.size() - body_start;
    return have >= *head->content_length;
  }
};

// take_bytes - parses the head once it is all in (the new bytes start at `old_size`) and hands
// a streamed body on; false when on_body wants no more
Result<bool> take_bytes(Reception& in, size_t old_size,
                        const std::function<bool(std::string_view)>* on_body) {
  if (!in.head) {
    // Search only the new bytes (and 3 before, for a split "\r\n\r\n").
    size_t from = old_size >= 3 ? old_size - 3 : 0;
    size_t end = in.raw.find("\r\n\r\n", from);
    if (end == std::string::npos) return true;
    Result<Head> parsed = parse_head(std::string_view(in.raw).substr(0, end));
    if (!parsed) return parsed.status();
    in.head = std::move(parsed).value();
    in.body_start = end + 4;
    if (on_body && in.head->status == 200) {
      in.streaming = true;
      in.raw.erase(0, in.body_start);
      in.body_start = 0;
    }
  }
  if (in.streaming && !in.raw.empty()) {
    std::string_view piece = in.raw;
    if (in.head->content_length) {
      piece = piece.substr(0, std::min(piece.size(), *in.head->content_length - in.streamed));
    }
    in.streamed += piece.size();
    bool more = (*on_body)(piece);
    in.raw.clear();
    if (!more) return false;
  }
  return true;
}

// receive - reads until the daemon closes, the body is complete or on_body wants no more
Status receive(int fd, const Daemon& daemon, const std::function<bool(std::string_view)>* on_body,
               bool follow, Reception& in) {
  Clock::time_point deadline = Clock::now() + kIdleTimeout;
  for (;;) {
    if (in.complete()) return Status::ok();
    int wait_ms = -1;  // following a stream: as long as it takes
    if (!in.head || !(follow && in.streaming)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return daemon.no_answer(daemon.silent);
      wait_ms = static_cast<int>(left.count());
    }
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Status::error(std::string("poll: ") + strerror(errno));
    }
    if (ready == 0) return daemon.no_answer(daemon.silent);

    size_t old_size = in.raw.size();
    in.raw.resize(old_size + 64 * 1024);
    ssize_t n = ::read(fd, in.raw.data() + old_size, in.raw.size() - old_size);
    in.raw.resize(old_size + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status::error("reading from the daemon on " + daemon.socket_path + ": " +
                           strerror(errno));
    }
    if (n == 0) return Status::ok();  // HTTP/1.0: the daemon closes when it is done
    deadline = Clock::now() + kIdleTimeout;
    Result<bool> more = take_bytes(in, old_size, on_body);
    if (!more) return more.status();
    if (!*more) return Status::ok();
  }
}

// to_response - the response in a finished reception, unless it was cut short
Result<AdminResponse> to_response(Reception& in, const std::string& socket_path) {
  if (!in.head) {
    return Result<AdminResponse>::error("the daemon on " + socket_path +
                                        " closed the connection without an answer");
  }
  AdminResponse response;
  response.status = in.head->status;
  response.content_type = std::move(in.head->content_type);
  const std::optional<size_t>& length = in.head->content_length;
  if (in.streaming) {
    if (length && in.streamed < *length) {
      return Result<AdminResponse>::error("the daemon's answer was cut short");
    }
    return response;
  }
  size_t body_size = in.raw.size() - in.body_start;
  if (length && body_size < *length) {
    return Result<AdminResponse>::error("the daemon's answer was cut short");
  }
  if (length) body_size = *length;
  in.raw.resize(in.body_start + body_size);
  in.raw.erase(0, in.body_start);
  response.body = std::move(in.raw);
  return response;
}

// exchange - one request and its answer; streams a 200 body to `on_body` when given
Result<AdminResponse> exchange(const std::string& socket_path, std::string_view method,
                               const std::string& path,
                               const std::function<bool(std::string_view)>* on_body, bool follow,
                               bool* unreachable) {
  if (unreachable) *unreachable = false;
  const Daemon daemon{socket_path, unreachable,
                      "the daemon is not running (no answer on " + socket_path + ")",
                      "the daemon did not answer on " + socket_path + " within " +
                          std::to_string(kIdleTimeout.count()) + " seconds"};
  Result<UniqueFd> fd = connect_daemon(daemon);
  if (!fd) return fd.status();
  if (Status sent = send_request(fd->get(), daemon, method, path); !sent) return sent;
  Reception in;
  if (Status received = receive(fd->get(), daemon, on_body, follow, in); !received) {
    return received;
  }
  return to_response(in, socket_path);
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

int admin_call(const std::string& socket_path, bool post, const std::string& path,
               AdminResponse* out) {
  bool unreachable = false;
  Result<AdminResponse> r = post ? admin_post(socket_path, path, &unreachable)
                                 : admin_get(socket_path, path, &unreachable);
  if (!r) return fail(unreachable ? kExitUnreachable : kExitFailed, r.message());
  if (r->status != 200) {
    std::string reason;
    if (auto body = parse_json(r->body)) reason = (*body)["error"].text;
    if (reason.empty()) reason = "the daemon answered HTTP " + std::to_string(r->status);
    return fail(r->status == 400 ? kExitUsage : kExitFailed, reason);
  }
  *out = std::move(r).value();
  return kExitOk;
}

}  // namespace hato::cli
