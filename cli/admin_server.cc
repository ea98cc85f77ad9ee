// admin_server.cc - the admin API on libevent's HTTP server over a Unix socket.
//
// Requests run on the loop thread and read the store synchronously. Listings
// stop at `limit`, so `queue ls --limit 10` costs ten envelopes however long
// the queue is.
#include "cli/admin_server.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "common/log.h"

namespace hato::cli {

namespace {

// Owns a file descriptor until it is closed or released.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

struct EvhttpFree {
  void operator()(evhttp* http) const { evhttp_free(http); }
};

// A parsed query string, freed with the request handler's scope.
class QueryParams {
 public:
  QueryParams() = default;
  ~QueryParams() { evhttp_clear_headers(&params_); }
  QueryParams(const QueryParams&) = delete;
  QueryParams& operator=(const QueryParams&) = delete;
  bool parse(const char* query) { return evhttp_parse_query_str(query, &params_) == 0; }
  evkeyvalq* get() { return &params_; }

 private:
  evkeyvalq params_{};
};

std::string errno_text(int err) {
  return std::strerror(err);
}

bool make_unix_address(const std::string& path, sockaddr_un* address) {
  if (path.empty() || path.size() >= sizeof(address->sun_path) ||
      path.find('\0') != std::string::npos) {
    return false;
  }
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  std::memcpy(address->sun_path, path.data(), path.size());
  return true;
}

// What is at the socket path before we bind it.
enum class Occupant { kNothing, kStale, kLiveDaemon };

// probe_socket - tells a live daemon's socket from one left behind by a crash
Result<Occupant> probe_socket(const std::string& path, const sockaddr_un& address) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Occupant::kNothing;
    return Result<Occupant>::error("admin socket " + path + ": " + errno_text(errno));
  }
  // Never unlink something that is not a socket: the path may be mistyped.
  if (!S_ISSOCK(st.st_mode)) {
    return Result<Occupant>::error("admin socket " + path + " exists and is not a socket");
  }
  // Nonblocking, so a busy daemon with a full backlog answers EAGAIN at once
  // instead of stalling our start.
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Result<Occupant>::error("socket: " + errno_text(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    return Occupant::kLiveDaemon;
  }
  switch (errno) {
    case ECONNREFUSED:
      return Occupant::kStale;
    case ENOENT:
      return Occupant::kNothing;  // removed since lstat
    case EAGAIN:
      return Occupant::kLiveDaemon;
    default:
      return Result<Occupant>::error("admin socket " + path + ": " + errno_text(errno));
  }
}

// The domain of an address, after the last '@'; lower case.
std::string address_domain(std::string_view address) {
  size_t at = address.rfind('@');
  std::string domain(at == std::string_view::npos ? std::string_view() : address.substr(at + 1));
  for (char& c : domain) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return domain;
}

bool has_pending_rcpt_in(const queue::Envelope& envelope, const std::string& domain) {
  for (const auto& r : envelope.recipients) {
    if (r.state == queue::RcptState::kPending && address_domain(r.address) == domain) return true;
  }
  return false;
}

// The header section of a message, without the empty line that ends it.
// Lines may end in CRLF (as received) or LF alone; either ends the section.
std::string_view header_section(std::string_view message) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) return message;
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return message.substr(0, pos);
    pos = eol + 1;
  }
  return message;
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  log::append_json_string(out, key);
  out += ':';
  log::append_json_string(out, value);
}

void append_number(std::string& out, std::string_view key, uint64_t value) {
  out += ',';
  log::append_json_string(out, key);
  out += ':';
  out += std::to_string(value);
}

void append_recipients(std::string& out, const queue::Envelope& envelope) {
  out += ",\"recipients\":[";
  bool first_rcpt = true;
  for (const auto& r : envelope.recipients) {
    if (!first_rcpt) out += ',';
    first_rcpt = false;
    out += "{\"rcpt\":";
    log::append_json_string(out, r.address);
    append_field(out, "state", rcpt_state_name(r.state));
    out += ",\"attempts\":[";
    bool first_attempt = true;
    for (const auto& a : r.attempts) {
      if (!first_attempt) out += ',';
      first_attempt = false;
      out += "{\"time\":";
      log::append_json_string(out, log::rfc3339(a.time_ms));
      append_field(out, "host", a.host);
      append_field(out, "response", a.response);
      out += '}';
    }
    out += "]}";
  }
  out += ']';
}

}  // namespace

const char* message_state_name(queue::MessageState state) {
  switch (state) {
    case queue::MessageState::kQueued:
      return "queued";
    case queue::MessageState::kDeferred:
      return "deferred";
    case queue::MessageState::kHeld:
      return "held";
  }
  return "queued";
}

bool parse_message_state(std::string_view text, queue::MessageState* state) {
  for (auto s :
       {queue::MessageState::kQueued, queue::MessageState::kDeferred, queue::MessageState::kHeld}) {
    if (text == message_state_name(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

const char* rcpt_state_name(queue::RcptState state) {
  switch (state) {
    case queue::RcptState::kPending:
      return "pending";
    case queue::RcptState::kDelivered:
      return "delivered";
    case queue::RcptState::kBounced:
      return "bounced";
    case queue::RcptState::kExpired:
      return "expired";
  }
  return "pending";
}

std::string message_json(const queue::StoredMessage& message, bool with_recipients) {
  const queue::Envelope& env = message.envelope;
  size_t max_attempts = 0;
  const queue::Attempt* newest = nullptr;
  for (const auto& r : env.recipients) {
    max_attempts = std::max(max_attempts, r.attempts.size());
    for (const auto& a : r.attempts) {
      if (!newest || a.time_ms >= newest->time_ms) newest = &a;
    }
  }

  std::string out;
  out.reserve(with_recipients ? 1024 : 256);
  out += "{\"id\":";
  log::append_json_string(out, message.id.str());
  append_field(out, "from", env.sender);
  out += ",\"to\":[";
  bool first = true;
  for (const auto& r : env.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    if (!first) out += ',';
    first = false;
    log::append_json_string(out, r.address);
  }
  out += ']';
  append_field(out, "state", message_state_name(env.state));
  append_number(out, "attempts", max_attempts);
  append_field(out, "created", log::rfc3339(env.created_ms));
  append_field(out, "next_attempt", log::rfc3339(env.next_attempt_ms));
  append_number(out, "size", env.size);
  append_field(out, "last_response", newest ? std::string_view(newest->response) : "");
  if (with_recipients) {
    // Where the message came from: what an operator asks first about odd mail.
    append_field(out, "client", env.client);
    append_field(out, "listener", env.listener);
    append_field(out, "auth_user", env.auth_user);
    append_field(out, "envid", env.envid);
    append_field(out, "ret", env.ret);
    append_recipients(out, env);
  }
  out += '}';
  return out;
}

struct AdminServer::Impl {
  Impl(hato::Loop& l, queue::Store& s) : loop(l), store(s) {}

  Status listen(const std::string& path);
  void remove_socket_file();

  static void on_request(evhttp_request* req, void* arg);
  void handle(evhttp_request* req);
  void list(evhttp_request* req, const char* query);
  void show(evhttp_request* req, std::string_view printed_id);
  void raw_message(evhttp_request* req, std::string_view printed_id, bool headers_only);

  hato::Loop& loop;
  queue::Store& store;
  std::unique_ptr<evhttp, EvhttpFree> http;
  std::string socket_path;
  // The file we bound, so we never remove a successor's socket.
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;
};

namespace {

void send_body(evhttp_request* req, int code, const char* reason, const char* content_type,
               std::string_view body) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
  evbuffer* out = evhttp_request_get_output_buffer(req);
  evbuffer_add(out, body.data(), body.size());
  evhttp_send_reply(req, code, reason, nullptr);
}

void send_error(evhttp_request* req, int code, const char* reason, std::string_view message) {
  evbuffer* out = evhttp_request_get_output_buffer(req);
  evbuffer_drain(out, evbuffer_get_length(out));  // whatever a failed listing left
  std::string body = "{\"error\":";
  log::append_json_string(body, message);
  body += "}\n";
  send_body(req, code, reason, "application/json", body);
}

// What the store says for an ID it does not hold; anything else is a failure.
constexpr std::string_view kStoreNotFound = "no such message";

void send_no_such_message(evhttp_request* req, std::string_view printed_id) {
  send_error(req, HTTP_NOTFOUND, "Not Found", "no such message: " + std::string(printed_id));
}

// send_store_error - 404 for an absent message, 500 for a store that failed
void send_store_error(evhttp_request* req, std::string_view printed_id, const Status& status) {
  if (status.message() == kStoreNotFound) {
    send_no_such_message(req, printed_id);
    return;
  }
  log::error("admin read failed", {{"id", printed_id}, {"reason", status.message()}});
  send_error(req, HTTP_INTERNAL, "Internal Server Error",
             "reading message " + std::string(printed_id) + " failed: " + status.message());
}

}  // namespace

Status AdminServer::Impl::listen(const std::string& path) {
  if (http) return Status::error("admin server is already listening on " + socket_path);
  sockaddr_un address;
  if (!make_unix_address(path, &address)) {
    return Status::error("admin socket path must be 1 to " +
                         std::to_string(sizeof(address.sun_path) - 1) + " bytes: " + path);
  }

  Result<Occupant> occupant = probe_socket(path, address);
  if (!occupant) return occupant.status();
  if (*occupant == Occupant::kLiveDaemon) {
    return Status::error("admin socket " + path + " is in use by a running daemon");
  }
  if (*occupant == Occupant::kStale && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::error("removing stale admin socket " + path + ": " + errno_text(errno));
  }

  // Nonblocking: libevent accepts until EAGAIN.
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Status::error("socket: " + errno_text(errno));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno == EADDRINUSE) {
      return Status::error("admin socket " + path + " is in use by a running daemon");
    }
    return Status::error("binding admin socket " + path + ": " + errno_text(errno));
  }
  // From here on the file is ours to remove on failure. The mode is set
  // before listen(), so no one can connect while it is still the umask's.
  socket_path = path;
  struct stat st;
  if (::chmod(path.c_str(), 0660) != 0 || ::lstat(path.c_str(), &st) != 0) {
    Status failed = Status::error("admin socket " + path + ": " + errno_text(errno));
    ::unlink(path.c_str());
    socket_path.clear();
    return failed;
  }
  socket_dev = st.st_dev;
  socket_ino = st.st_ino;
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    Status failed = Status::error("listening on admin socket " + path + ": " + errno_text(errno));
    remove_socket_file();
    return failed;
  }

  std::unique_ptr<evhttp, EvhttpFree> server(evhttp_new(loop.base()));
  if (!server) {
    remove_socket_file();
    return Status::error("evhttp_new failed");
  }
  // Accept every method so that ours answer 405 rather than libevent's 501.
  evhttp_set_allowed_methods(server.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                               EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                               EVHTTP_REQ_PATCH);
  // Requests are small GETs; a client that sends more or stalls is dropped.
  evhttp_set_max_headers_size(server.get(), 16 * 1024);
  evhttp_set_max_body_size(server.get(), 64 * 1024);
  evhttp_set_timeout(server.get(), 30);
  evhttp_set_gencb(server.get(), &Impl::on_request, this);
  // The listener closes the fd when the evhttp is freed.
  if (evhttp_accept_socket_with_handle(server.get(), fd.get()) == nullptr) {
    remove_socket_file();
    return Status::error("serving admin socket " + path + ": evhttp_accept_socket failed");
  }
  fd.release();
  http = std::move(server);
  log::info("admin listening", {{"socket", path}});
  return Status::ok();
}

void AdminServer::Impl::remove_socket_file() {
  if (socket_path.empty()) return;
  struct stat st;
  if (::lstat(socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev &&
      st.st_ino == socket_ino) {
    ::unlink(socket_path.c_str());
  }
  socket_path.clear();
}

void AdminServer::Impl::on_request(evhttp_request* req, void* arg) {
  static_cast<Impl*>(arg)->handle(req);
}

void AdminServer::Impl::handle(evhttp_request* req) {
  evhttp_cmd_type method = evhttp_request_get_command(req);
  if (method != EVHTTP_REQ_GET) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
    // A body after HEAD would be read as the start of the next response.
    if (method == EVHTTP_REQ_HEAD) {
      evhttp_send_reply(req, HTTP_BADMETHOD, "Method Not Allowed", nullptr);
      return;
    }
    send_error(req, HTTP_BADMETHOD, "Method Not Allowed", "method not allowed; use GET");
    return;
  }
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri ? evhttp_uri_get_path(uri) : nullptr;
  std::string_view path = raw_path ? raw_path : "";

  constexpr std::string_view kQueue = "/v1/queue";
  if (path == kQueue) {
    list(req, evhttp_uri_get_query(uri));
    return;
  }
  if (path.starts_with(kQueue) && path.size() > kQueue.size() + 1 && path[kQueue.size()] == '/') {
    std::string_view rest = path.substr(kQueue.size() + 1);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      show(req, rest);
      return;
    }
    if (rest.substr(slash) == "/message") {
      raw_message(req, rest.substr(0, slash), /*headers_only=*/false);
      return;
    }
    if (rest.substr(slash) == "/headers") {
      raw_message(req, rest.substr(0, slash), /*headers_only=*/true);
      return;
    }
  }
  send_error(req, HTTP_NOTFOUND, "Not Found", "no such endpoint: " + std::string(path));
}

void AdminServer::Impl::list(evhttp_request* req, const char* query) {
  size_t limit = std::numeric_limits<size_t>::max();
  std::optional<queue::MessageState> state;
  std::string domain;

  QueryParams params;
  if (!params.parse(query ? query : "")) {
    send_error(req, HTTP_BADREQUEST, "Bad Request", "malformed query string");
    return;
  }
  for (const evkeyval* kv = params.get()->tqh_first; kv; kv = kv->next.tqe_next) {
    std::string_view key = kv->key, value = kv->value;
    if (key == "limit") {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || end != value.data() + value.size() || limit == 0) {
        send_error(req, HTTP_BADREQUEST, "Bad Request",
                   "limit must be a positive number: " + std::string(value));
        return;
      }
    } else if (key == "state") {
      queue::MessageState s;
      if (!parse_message_state(value, &s)) {
        send_error(req, HTTP_BADREQUEST, "Bad Request",
                   "state must be queued, deferred or held: " + std::string(value));
        return;
      }
      state = s;
    } else if (key == "domain") {
      // "@example.test" and "Example.TEST" mean what the operator meant.
      domain = address_domain(value.starts_with('@') ? value : "@" + std::string(value));
    } else {
      // Rejected rather than ignored: a mistyped filter would list everything.
      send_error(req, HTTP_BADREQUEST, "Bad Request", "unknown parameter: " + std::string(key));
      return;
    }
  }

  evbuffer* out = evhttp_request_get_output_buffer(req);
  size_t count = 0;
  std::string line;
  Status status = store.for_each([&](const queue::StoredMessage& m) {
    if (state && m.envelope.state != *state) return true;
    if (!domain.empty() && !has_pending_rcpt_in(m.envelope, domain)) return true;
    line = message_json(m, false);
    line += '\n';
    evbuffer_add(out, line.data(), line.size());
    return ++count < limit;
  });
  if (!status) {
    log::error("admin queue listing failed", {{"reason", status.message()}});
    send_error(req, HTTP_INTERNAL, "Internal Server Error",
               "reading the queue failed: " + status.message());
    return;
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/x-ndjson");
  evhttp_send_reply(req, HTTP_OK, "OK", nullptr);
}

void AdminServer::Impl::show(evhttp_request* req, std::string_view printed_id) {
  std::optional<queue::QueueId> id = queue::QueueId::parse(printed_id);
  if (!id) {
    send_no_such_message(req, printed_id);
    return;
  }
  Result<queue::Envelope> envelope = store.envelope(*id);
  if (!envelope) {
    send_store_error(req, printed_id, envelope.status());
    return;
  }
  std::string body = message_json(queue::StoredMessage{*id, std::move(envelope).value()}, true);
  body += '\n';
  send_body(req, HTTP_OK, "OK", "application/json", body);
}

void AdminServer::Impl::raw_message(evhttp_request* req, std::string_view printed_id,
                                    bool headers_only) {
  std::optional<queue::QueueId> id = queue::QueueId::parse(printed_id);
  if (!id) {
    send_no_such_message(req, printed_id);
    return;
  }
  Result<std::string> message = store.message(*id);
  if (!message) {
    send_store_error(req, printed_id, message.status());
    return;
  }
  if (headers_only) {
    send_body(req, HTTP_OK, "OK", "text/plain", header_section(*message));
    return;
  }
  // Hand the bytes to the buffer without copying them: messages can be large.
  auto bytes = std::make_unique<std::string>(std::move(message).value());
  if (evbuffer_add_reference(
          evhttp_request_get_output_buffer(req), bytes->data(), bytes->size(),
          [](const void*, size_t, void* arg) { delete static_cast<std::string*>(arg); },
          bytes.get()) != 0) {
    send_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
    return;
  }
  bytes.release();  // the buffer's cleanup callback owns it now
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "message/rfc822");
  evhttp_send_reply(req, HTTP_OK, "OK", nullptr);
}

AdminServer::AdminServer(hato::Loop& loop, queue::Store& store)
    : impl_(std::make_unique<Impl>(loop, store)) {}

AdminServer::~AdminServer() {
  // Unlink first: a CLI started now gets "not running" rather than a reset.
  impl_->remove_socket_file();
  impl_->http.reset();
}

Status AdminServer::listen(const std::string& socket_path) {
  return impl_->listen(socket_path);
}

}  // namespace hato::cli
