// admin_server.cc - the admin API on libevent's HTTP server over a Unix socket: the socket
// file, the router, the reply helpers, the life of Streams and the handlers, area by area.
// The whole picture is in admin_impl.h.
#include "cli/admin_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include "cli/admin_impl.h"
#include "cli/admin_route.h"
#include "common/log.h"

namespace hato::cli {

std::string errno_text(int err) {
  return std::strerror(err);
}

void send_body(evhttp_request* req, int code, const char* reason, const char* content_type,
               std::string_view body) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
  evbuffer* out = evhttp_request_get_output_buffer(req);
  evbuffer_add(out, body.data(), body.size());
  evhttp_send_reply(req, code, reason, nullptr);
}

void send_json(evhttp_request* req, int code, const char* reason, std::string_view body) {
  send_body(req, code, reason, "application/json", body);
}

std::string error_json(std::string_view message) {
  std::string body = "{\"error\":";
  log::append_json_string(body, message);
  body += "}\n";
  return body;
}

void send_error(evhttp_request* req, int code, const char* reason, std::string_view message) {
  evbuffer* out = evhttp_request_get_output_buffer(req);
  evbuffer_drain(out, evbuffer_get_length(out));  // whatever a failed listing left
  send_json(req, code, reason, error_json(message));
}

void send_bad_method(evhttp_request* req, const char* allow) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
  // A body after HEAD would be read as the start of the next response.
  if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
    evhttp_send_reply(req, HTTP_BADMETHOD, "Method Not Allowed", nullptr);
    return;
  }
  send_error(req, HTTP_BADMETHOD, "Method Not Allowed",
             std::string("method not allowed; use ") + allow);
}

namespace {

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

// The Allow header of a route that takes `methods`.
std::string allowed_methods(unsigned methods) {
  std::string allow;
  for (auto [bit, name] : {std::pair{EVHTTP_REQ_GET, "GET"}, std::pair{EVHTTP_REQ_POST, "POST"}}) {
    if ((methods & bit) == 0) continue;
    if (!allow.empty()) allow += ", ";
    allow += name;
  }
  return allow;
}

}  // namespace

// ---------------------------------------------------------------------------
// Routing.

std::span<const AdminServer::Impl::Route> AdminServer::Impl::routes() {
  static constexpr Route kRoutes[] = {
      {"/v1/queue", EVHTTP_REQ_GET, &Impl::list},
      // Before "/v1/queue/*", which would take them for message IDs.
      {"/v1/queue/summary", EVHTTP_REQ_GET, &Impl::summary},
      {"/v1/queue/flush", EVHTTP_REQ_POST, &Impl::flush},
      {"/v1/queue/*", EVHTTP_REQ_GET, &Impl::show},
      {"/v1/queue/*/message", EVHTTP_REQ_GET, &Impl::raw_message},
      {"/v1/queue/*/headers", EVHTTP_REQ_GET, &Impl::headers},
      {"/v1/queue/*/hold", EVHTTP_REQ_POST, &Impl::act},
      {"/v1/queue/*/release", EVHTTP_REQ_POST, &Impl::act},
      {"/v1/queue/*/flush", EVHTTP_REQ_POST, &Impl::act},
      {"/v1/queue/*/delete", EVHTTP_REQ_POST, &Impl::act},
      {"/v1/queue/*/bounce", EVHTTP_REQ_POST, &Impl::act},
      {"/v1/events", EVHTTP_REQ_GET, &Impl::tail},
      {"/v1/backup", EVHTTP_REQ_POST, &Impl::backup},
      {"/v1/blacklist", EVHTTP_REQ_GET, &Impl::blacklist},
      {"/v1/blacklist/check", EVHTTP_REQ_POST, &Impl::blacklist_check_now},
      {"/v1/cluster", EVHTTP_REQ_GET, &Impl::cluster},
      {"/v1/warmup", EVHTTP_REQ_GET, &Impl::warmup},
      {"/v1/tlsrpt/send", EVHTTP_REQ_POST, &Impl::tls_report, &Impl::has_tls_report_send},
      {"/v1/users/reload", EVHTTP_REQ_POST, &Impl::reload_users, &Impl::has_users_reload},
  };
  return kRoutes;
}

void AdminServer::Impl::on_request(evhttp_request* req, void* arg) {
  static_cast<Impl*>(arg)->handle(req);
}

void AdminServer::Impl::handle(evhttp_request* req) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri ? evhttp_uri_get_path(uri) : nullptr;
  RouteArgs args{raw_path ? raw_path : "", {}, uri ? evhttp_uri_get_query(uri) : nullptr};
  for (const Route& route : routes()) {
    if (route.available && !(this->*route.available)()) continue;
    if (!match_route(route.pattern, args.path, &args.id)) continue;
    // The first route that matches owns the path: another method is 405, not a later route.
    if ((route.methods & evhttp_request_get_command(req)) == 0) {
      return send_bad_method(req, allowed_methods(route.methods).c_str());
    }
    return (this->*route.handler)(req, args);
  }
  send_error(req, HTTP_NOTFOUND, "Not Found", "no such endpoint: " + std::string(args.path));
}

// ---------------------------------------------------------------------------
// Streams.

void AdminServer::Impl::run(std::unique_ptr<Stream> stream) {
  Stream* raw = stream.get();
  streams.emplace(raw, std::move(stream));
  raw->begin();
}

void AdminServer::Impl::forget(Stream* stream) {
  // Deleting the stream frees its continuation event, which may be the one
  // running now: libevent allows that for a non-persistent event.
  streams.erase(stream);
}

void AdminServer::Impl::close_streams() {
  for (auto& [raw, stream] : streams) raw->abandon();
  streams.clear();
}

// ---------------------------------------------------------------------------
// Listening.

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
  // Requests are small; a client that sends more or stalls is dropped.
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

// ---------------------------------------------------------------------------

AdminServer::AdminServer(hato::Loop& loop, queue::Store& store, queue::EventBus& events,
                         queue::QueueControl& control)
    : impl_(std::make_unique<Impl>(loop, store, events, control)) {
  watcher_gauge();  // registered now, so /metrics shows it before the first watcher
}

AdminServer::~AdminServer() {
  // Unlink first: a CLI started now gets "not running" rather than a reset.
  impl_->remove_socket_file();
  // Streams let go of their connections before evhttp_free() closes them,
  // so no close callback reaches a deleted stream.
  impl_->close_streams();
  impl_->http.reset();
}

Status AdminServer::listen(const std::string& socket_path) {
  return impl_->listen(socket_path);
}

size_t AdminServer::watchers() const {
  return impl_->watchers;
}

size_t AdminServer::streams() const {
  return impl_->streams.size();
}

void AdminServer::set_tls_report_send(std::function<std::string()> send) {
  impl_->tls_report_send = std::move(send);
}

void AdminServer::set_users_reload(std::function<Result<std::string>()> reload) {
  impl_->users_reload = std::move(reload);
}

void AdminServer::set_cluster(std::function<void(std::function<void(Result<std::string>)>)> nodes) {
  impl_->cluster_nodes = std::move(nodes);
}

void AdminServer::set_warmup_status(std::function<std::string()> status) {
  impl_->warmup_status = std::move(status);
}

void AdminServer::set_blacklist(std::function<Result<std::string>()> status,
                                std::function<void(std::function<void()>)> check) {
  impl_->blacklist_status = std::move(status);
  impl_->blacklist_check = std::move(check);
}

// ---------------------------------------------------------------------------
// queue_json

namespace {

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
      if (!a.tls_policy.empty()) append_field(out, "tls_policy", a.tls_policy);
      if (!a.tls_version.empty()) {
        append_field(out, "tls_version", a.tls_version);
        append_field(out, "tls_cipher", a.tls_cipher);
      }
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

std::string event_json(const queue::QueueEvent& event) {
  std::string out;
  out.reserve(128 + event.response.size());
  out += "{\"time\":";
  log::append_json_string(out, log::rfc3339(event.time_ms));
  append_field(out, "event", event.event);
  append_field(out, "id", event.id);
  append_field(out, "rcpt", event.rcpt);
  append_field(out, "response", event.response);
  out += '}';
  return out;
}

size_t summary_bucket(int64_t age_ms) {
  for (size_t i = 0; i < std::size(kSummaryBucketMinutes); ++i) {
    if (age_ms < kSummaryBucketMinutes[i] * 60'000) return i;
  }
  return kSummaryBuckets - 1;
}

// ---------------------------------------------------------------------------
// queue

namespace {

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

using Clock = std::chrono::steady_clock;

// One slice of a store walk ends after this many messages or this much time,
// whichever comes first, so the loop serves SMTP in between.
constexpr size_t kSliceMessages = 4096;
constexpr auto kSliceTime = std::chrono::milliseconds(10);
// A listing stops reading the store while more than this waits to be sent.
constexpr size_t kListHighWater = 256 * 1024;
// ... and sends what a slice produced once it reaches this much.
constexpr size_t kListChunk = 64 * 1024;
// Pending output a watcher may have before its events are dropped.
constexpr size_t kWatcherBuffer = 1024 * 1024;
// For watchers, which are allowed to pause (a terminal on hold), longer.
constexpr timeval kWatcherWriteTimeout = {300, 0};

void send_no_such_message(evhttp_request* req, std::string_view printed_id) {
  send_error(req, HTTP_NOTFOUND, "Not Found", "no such message: " + std::string(printed_id));
}

// send_store_error - 404 for an absent message, 500 for a store that failed
void send_store_error(evhttp_request* req, std::string_view printed_id, const Status& status) {
  if (status.code() == Code::kNotFound) {
    send_no_such_message(req, printed_id);
    return;
  }
  log::error("admin read failed", {{"id", printed_id}, {"reason", status.message()}});
  send_error(req, HTTP_INTERNAL, "Internal Server Error",
             "reading message " + std::string(printed_id) + " failed: " + status.message());
}

// Parses ?domain= the way the operator meant it: "@example.test" and
// "Example.TEST" are example.test.
std::string domain_param(std::string_view value) {
  return address_domain(value.starts_with('@') ? value : "@" + std::string(value));
}

}  // namespace

Gauge& watcher_gauge() {
  static Gauge& g = metrics().gauge("hato_admin_watchers", "Open `queue tail` streams");
  return g;
}

// A walk over the whole store, one slice per loop turn.
class AdminServer::Impl::Scan : public Stream {
 public:
  Scan(Impl& server, evhttp_request* req) : Stream(server, req) {}

 protected:
  // Each message in ID order; false ends the walk early.
  virtual bool visit(const queue::StoredMessage& message) = 0;
  // Whether the slice should end now (a listing with a full chunk).
  virtual bool slice_full() const { return false; }
  // Between slices; the default goes on at the next loop turn.
  virtual void paused() { resume_soon(); }
  // The walk is over (all seen, or visit() said stop): answer and end.
  virtual void done() = 0;
  virtual void failed(const Status& status) = 0;

  void start() override {
    next_.reset(event_new(server_.loop.base(), -1, 0, &Scan::on_next, this));
    if (!next_) {
      failed(Status::error("out of memory"));
      return;
    }
    slice();
  }

  void resume_soon() { event_active(next_.get(), EV_TIMEOUT, 0); }

 private:
  static void on_next(evutil_socket_t, short, void* arg) { static_cast<Scan*>(arg)->slice(); }

  void slice() {
    Clock::time_point until = Clock::now() + kSliceTime;
    size_t seen = 0;
    bool stopped = false, more = false;
    Status status = server_.store.for_each_from(
        cursor_ ? &*cursor_ : nullptr, [&](const queue::StoredMessage& m) {
          cursor_ = m.id;
          if (!visit(m)) {
            stopped = true;
            return false;
          }
          ++seen;
          if (seen >= kSliceMessages || slice_full() || (seen % 64 == 0 && Clock::now() > until)) {
            more = true;
            return false;
          }
          return true;
        });
    if (!status) {
      log::error("admin queue walk failed", {{"reason", status.message()}});
      failed(status);
      return;
    }
    if (stopped || !more) {
      done();
      return;
    }
    paused();
  }

  std::optional<queue::QueueId> cursor_;  // the last message seen
  std::unique_ptr<event, EventFree> next_;
};

// GET /v1/queue: JSON lines, sent while the walk goes on.
class AdminServer::Impl::ListScan : public Scan {
 public:
  ListScan(Impl& server, evhttp_request* req, size_t limit,
           std::optional<queue::MessageState> state, std::string domain)
      : Scan(server, req),
        limit_(limit),
        state_(state),
        domain_(std::move(domain)),
        chunk_(evbuffer_new()) {}

 protected:
  bool visit(const queue::StoredMessage& m) override {
    if (state_ && m.envelope.state != *state_) return true;
    if (!domain_.empty() && !has_pending_rcpt_in(m.envelope, domain_)) return true;
    line_ = message_json(m, false);
    line_ += '\n';
    evbuffer_add(chunk_.get(), line_.data(), line_.size());
    return ++count_ < limit_;
  }

  bool slice_full() const override { return evbuffer_get_length(chunk_.get()) >= kListChunk; }

  void paused() override {
    flush_chunk();
    // Read on only once the client has taken most of what was sent.
    if (pending_output() > kListHighWater) {
      waiting_ = true;
      return;
    }
    resume_soon();
  }

  void drained() override {
    if (!waiting_) return;
    waiting_ = false;
    resume_soon();
  }

  void done() override {
    if (!reply_started_) {
      // All of it fits in one answer.
      evbuffer_add_buffer(evhttp_request_get_output_buffer(req_), chunk_.get());
      reply_buffer_and_end("application/x-ndjson");
      return;
    }
    flush_chunk();
    end();
  }

  void failed(const Status& status) override {
    std::string message = "reading the queue failed: " + status.message();
    if (!reply_started_) {
      reply_and_end(HTTP_INTERNAL, "Internal Server Error", message);
      return;
    }
    // Too late for a status code: the last line says it, and the CLI reads it.
    flush_chunk();
    send_chunk(error_json(message));
    end();
  }

 private:
  void flush_chunk() {
    if (!reply_started_) start_reply("application/x-ndjson");
    send_chunk(chunk_.get());
  }

  const size_t limit_;
  const std::optional<queue::MessageState> state_;
  const std::string domain_;
  EvbufferPtr chunk_;
  std::string line_;
  size_t count_ = 0;
  bool waiting_ = false;
};

// GET /v1/queue/summary: a table of counts, answered at the end of the walk.
class AdminServer::Impl::SummaryScan : public Scan {
 public:
  SummaryScan(Impl& server, evhttp_request* req, std::optional<queue::MessageState> state)
      : Scan(server, req), state_(state), now_ms_(log::now_ms()) {}

 protected:
  struct Row {
    uint64_t messages = 0;
    uint64_t recipients = 0;
    std::array<uint64_t, kSummaryBuckets> counts{};
  };

  bool visit(const queue::StoredMessage& m) override {
    const queue::Envelope& env = m.envelope;
    if (state_ && env.state != *state_) return true;
    size_t bucket = summary_bucket(now_ms_ - env.created_ms);
    seen_.clear();  // the domains this message has been counted under
    for (const auto& r : env.recipients) {
      if (r.state != queue::RcptState::kPending) continue;
      std::string domain = address_domain(r.address);
      Row& row = domains_[domain];
      ++row.recipients;
      ++total_.recipients;
      if (std::find(seen_.begin(), seen_.end(), domain) == seen_.end()) {
        ++row.messages;
        ++row.counts[bucket];
        seen_.push_back(std::move(domain));
      }
    }
    // A message without pending recipients is on its way out; it still
    // occupies the queue, so the total counts it.
    ++total_.messages;
    ++total_.counts[bucket];
    ++states_[static_cast<size_t>(env.state)];
    return true;
  }

  void done() override {
    std::vector<std::pair<const std::string*, const Row*>> rows;
    rows.reserve(domains_.size());
    for (const auto& [domain, row] : domains_) rows.emplace_back(&domain, &row);
    // Busiest first, as qshape sorts; ties by name, so the order is stable.
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      if (a.second->messages != b.second->messages) return a.second->messages > b.second->messages;
      return *a.first < *b.first;
    });

    std::string out = "{\"buckets\":[";
    for (size_t i = 0; i < kSummaryBuckets; ++i) {
      if (i) out += ',';
      out += '"';
      if (i + 1 < kSummaryBuckets) {
        out += std::to_string(i ? kSummaryBucketMinutes[i - 1] : 0) + "-" +
               std::to_string(kSummaryBucketMinutes[i]) + "m";
      } else {
        out += std::to_string(kSummaryBucketMinutes[i - 1]) + "m+";
      }
      out += '"';
    }
    out += "],\"total\":";
    append_row(out, nullptr, total_);
    out.pop_back();  // the total also says how many are in each state
    for (auto s : {queue::MessageState::kQueued, queue::MessageState::kDeferred,
                   queue::MessageState::kHeld}) {
      out += ",\"";
      out += message_state_name(s);
      out += "\":" + std::to_string(states_[static_cast<size_t>(s)]);
    }
    out += "},\"domains\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      if (i) out += ',';
      append_row(out, rows[i].first, *rows[i].second);
    }
    out += "]}\n";
    reply_and_end(HTTP_OK, "OK", out);
  }

  void failed(const Status& status) override {
    reply_and_end(HTTP_INTERNAL, "Internal Server Error",
                  "reading the queue failed: " + status.message());
  }

 private:
  static void append_row(std::string& out, const std::string* domain, const Row& row) {
    out += '{';
    if (domain) {
      out += "\"domain\":";
      log::append_json_string(out, *domain);
      out += ',';
    }
    out += "\"messages\":" + std::to_string(row.messages);
    out += ",\"recipients\":" + std::to_string(row.recipients);
    out += ",\"counts\":[";
    for (size_t i = 0; i < row.counts.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(row.counts[i]);
    }
    out += "]}";
  }

  const std::optional<queue::MessageState> state_;
  const int64_t now_ms_;
  Row total_;
  std::array<uint64_t, 3> states_{};
  std::map<std::string, Row> domains_;
  std::vector<std::string> seen_;
};

// POST /v1/queue/flush?domain=D: every message with a pending recipient in D due now.
class AdminServer::Impl::FlushScan : public Scan {
 public:
  FlushScan(Impl& server, evhttp_request* req, std::string domain)
      : Scan(server, req), domain_(std::move(domain)) {}

 protected:
  bool visit(const queue::StoredMessage& m) override {
    // Held mail stays held: flushing is not releasing (as postqueue -f).
    if (m.envelope.state == queue::MessageState::kHeld) return true;
    if (!has_pending_rcpt_in(m.envelope, domain_)) return true;
    if (server_.control.flush(m.id)) ++flushed_;
    return true;
  }

  void done() override {
    log::info("admin flush", {{"domain", domain_}, {"messages", std::to_string(flushed_)}});
    reply_and_end(HTTP_OK, "OK", "{\"ok\":true,\"flushed\":" + std::to_string(flushed_) + "}\n");
  }

  void failed(const Status& status) override {
    reply_and_end(HTTP_INTERNAL, "Internal Server Error",
                  "reading the queue failed after flushing " + std::to_string(flushed_) +
                      " messages: " + status.message());
  }

 private:
  const std::string domain_;
  size_t flushed_ = 0;
};

// GET /v1/events: one JSON line per queue event, for as long as the client stays.
class AdminServer::Impl::Watcher : public Stream {
 public:
  Watcher(Impl& server, evhttp_request* req) : Stream(server, req) {}

  ~Watcher() override {
    if (token_) {
      server_.events.unsubscribe(token_);
      --server_.watchers;
      watcher_gauge().add(-1);
      log::info("admin tail ended", {{"watchers", std::to_string(server_.watchers)}});
    }
  }

 protected:
  void start() override {
    start_reply("application/x-ndjson");
    token_ = server_.events.subscribe([this](const queue::QueueEvent& e) { on_event(e); });
    ++server_.watchers;
    watcher_gauge().add(1);
    log::info("admin tail started", {{"watchers", std::to_string(server_.watchers)}});
  }

  timeval write_timeout() const override { return kWatcherWriteTimeout; }

  // "When there is room again": the buffer has been written out entirely.
  void drained() override {
    if (missed_ == 0) return;
    send_chunk(missed_line());
    missed_ = 0;
  }

 private:
  // Called by EventBus::publish() on the loop: copy into the buffer or drop, never wait.
  void on_event(const queue::QueueEvent& e) {
    std::string text;
    if (missed_ > 0) text = missed_line();
    text += event_json(e);
    text += '\n';
    if (pending_output() + text.size() > kWatcherBuffer) {
      ++missed_;
      return;
    }
    send_chunk(text);
    missed_ = 0;
  }

  std::string missed_line() const {
    std::string line = "{\"time\":";
    log::append_json_string(line, log::rfc3339(log::now_ms()));
    line += ",\"event\":\"missed\",\"count\":" + std::to_string(missed_) + "}\n";
    return line;
  }

  uint64_t token_ = 0;
  uint64_t missed_ = 0;  // events dropped since the last line that went out
};

// ---------------------------------------------------------------------------
// Reading.

void AdminServer::Impl::list(evhttp_request* req, const RouteArgs& args) {
  size_t limit = std::numeric_limits<size_t>::max();
  std::optional<queue::MessageState> state;
  std::string domain;

  QueryParams params;
  if (!params.parse(args.query ? args.query : "")) {
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
      domain = domain_param(value);
    } else {
      // Rejected rather than ignored: a mistyped filter would list everything.
      send_error(req, HTTP_BADREQUEST, "Bad Request", "unknown parameter: " + std::string(key));
      return;
    }
  }
  run(std::make_unique<ListScan>(*this, req, limit, state, std::move(domain)));
}

void AdminServer::Impl::summary(evhttp_request* req, const RouteArgs& args) {
  std::optional<queue::MessageState> state;
  QueryParams params;
  if (!params.parse(args.query ? args.query : "")) {
    send_error(req, HTTP_BADREQUEST, "Bad Request", "malformed query string");
    return;
  }
  for (const evkeyval* kv = params.get()->tqh_first; kv; kv = kv->next.tqe_next) {
    std::string_view key = kv->key, value = kv->value;
    if (key != "state") {
      send_error(req, HTTP_BADREQUEST, "Bad Request", "unknown parameter: " + std::string(key));
      return;
    }
    queue::MessageState s;
    if (!parse_message_state(value, &s)) {
      send_error(req, HTTP_BADREQUEST, "Bad Request",
                 "state must be queued, deferred or held: " + std::string(value));
      return;
    }
    state = s;
  }
  run(std::make_unique<SummaryScan>(*this, req, state));
}

void AdminServer::Impl::tail(evhttp_request* req, const RouteArgs&) {
  run(std::make_unique<Watcher>(*this, req));
}

void AdminServer::Impl::show(evhttp_request* req, const RouteArgs& args) {
  std::string_view printed_id = args.id;
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
  send_json(req, HTTP_OK, "OK", body);
}

namespace {

// send_message - the stored message, or its header section, as the answer
void send_message(evhttp_request* req, queue::Store& store, std::string_view printed_id,
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

}  // namespace

void AdminServer::Impl::headers(evhttp_request* req, const RouteArgs& args) {
  send_message(req, store, args.id, /*headers_only=*/true);
}

void AdminServer::Impl::raw_message(evhttp_request* req, const RouteArgs& args) {
  send_message(req, store, args.id, /*headers_only=*/false);
}

// ---------------------------------------------------------------------------
// Steering.

void AdminServer::Impl::act(evhttp_request* req, const RouteArgs& args) {
  std::string_view printed_id = args.id;
  // The route's last segment: hold, release, flush, delete or bounce.
  std::string_view action = args.path.substr(args.path.rfind('/') + 1);
  std::optional<queue::QueueId> id = queue::QueueId::parse(printed_id);
  if (!id) {
    send_no_such_message(req, printed_id);
    return;
  }
  Status status = Status::ok();
  if (action == "hold") {
    status = control.hold(*id);
  } else if (action == "release") {
    status = control.release(*id);
  } else if (action == "flush") {
    status = control.flush(*id);
  } else if (action == "delete") {
    status = control.remove(*id);
  } else {
    status = control.bounce(*id);
  }
  if (status) {
    // Who did what to which message: the operator's actions belong in the log.
    log::info("admin action", {{"action", action}, {"id", printed_id}});
    send_json(req, HTTP_OK, "OK", "{\"ok\":true}\n");
    return;
  }
  if (status.code() == Code::kNotFound) {
    send_no_such_message(req, printed_id);
    return;
  }
  send_error(req, kHttpConflict, "Conflict",
             std::string(action) + " " + std::string(printed_id) + ": " + status.message());
}

void AdminServer::Impl::flush(evhttp_request* req, const RouteArgs& args) {
  std::string domain;
  QueryParams params;
  if (!params.parse(args.query ? args.query : "")) {
    send_error(req, HTTP_BADREQUEST, "Bad Request", "malformed query string");
    return;
  }
  for (const evkeyval* kv = params.get()->tqh_first; kv; kv = kv->next.tqe_next) {
    std::string_view key = kv->key, value = kv->value;
    if (key != "domain") {
      send_error(req, HTTP_BADREQUEST, "Bad Request", "unknown parameter: " + std::string(key));
      return;
    }
    domain = domain_param(value);
    if (domain.empty()) {
      send_error(req, HTTP_BADREQUEST, "Bad Request", "domain must not be empty");
      return;
    }
  }
  if (!domain.empty()) {
    run(std::make_unique<FlushScan>(*this, req, std::move(domain)));
    return;
  }
  size_t flushed = control.flush_all();
  log::info("admin flush", {{"domain", "*"}, {"messages", std::to_string(flushed)}});
  send_json(req, HTTP_OK, "OK", "{\"ok\":true,\"flushed\":" + std::to_string(flushed) + "}\n");
}

// ---------------------------------------------------------------------------
// backup

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// A checkpoint running on its own thread; `done` hands `status` over to the loop.
struct BackupJob {
  std::string dir;
  Status status = Status::ok();
  std::atomic<bool> done{false};
  Clock::time_point started = Clock::now();
};

namespace {

constexpr timeval kBackupPoll = {0, 100 * 1000};
constexpr unsigned kBackupPollsPerProgress = 10;  // a progress line a second

// prepare_backup_dir - an empty directory to copy into, made if need be: never over another
// backup, whose files a checkpoint would refuse to replace anyway, halfway through.
Status prepare_backup_dir(const std::string& dir) {
  std::error_code ec;
  bool exists = std::filesystem::exists(dir, ec);
  if (ec) return Status::error(dir + ": " + ec.message());
  if (exists) {
    if (!std::filesystem::is_directory(dir, ec)) {
      return Status::error(dir + " exists and is not a directory");
    }
    if (!std::filesystem::is_empty(dir, ec) || ec) {
      return Status::error(dir + " is not empty; back up into a new directory");
    }
    return Status::ok();
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);  // the copy holds everyone's queued mail
  return Status::ok();
}

// write_manifest - manifest.json, written last and synced: a backup directory that has one is
// complete. `hato backup restore` reads it.
Status write_manifest(const std::string& dir) {
  std::string body = "{\"format\":\"hato-backup\",\"version\":1,\"created\":";
  log::append_json_string(body, log::rfc3339(log::now_ms()));
  body += ",\"queue\":\"queue\"}\n";
  std::string path = dir + "/manifest.json";
  std::string tmp = path + ".tmp";
  auto failed = [&](const std::string& what) {
    return Status::error(what + " " + tmp + ": " + errno_text(errno));
  };
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return failed("cannot create");
  for (size_t off = 0; off < body.size();) {
    ssize_t n = ::write(fd.get(), body.data() + off, body.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed("cannot write");
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return failed("cannot sync");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("cannot rename");
  UniqueFd parent(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (parent.get() >= 0) ::fsync(parent.get());
  return Status::ok();
}

}  // namespace

// POST /v1/backup?dir=PATH: the queue checkpointed into PATH/queue, then PATH/manifest.json.
// The copy runs on a thread of its own: a flush, or a full copy when PATH is on another file
// system, takes longer than the loop may stall. The answer is JSON lines, a progress line a
// second (so the client's idle timeout never fires) and then {"ok":true,...} or {"error":...}.
class AdminServer::Impl::Backup : public Stream {
 public:
  Backup(Impl& server, evhttp_request* req, std::shared_ptr<BackupJob> job)
      : Stream(server, req), job_(std::move(job)) {}

 protected:
  void start() override {
    start_reply("application/x-ndjson");
    poll_.reset(evtimer_new(server_.loop.base(), &Backup::on_poll, this));
    if (!poll_) {
      send_chunk(error_json("out of memory (the backup goes on; see the log)"));
      end();
      return;
    }
    evtimer_add(poll_.get(), &kBackupPoll);
  }

 private:
  static void on_poll(evutil_socket_t, short, void* arg) { static_cast<Backup*>(arg)->poll(); }

  void poll() {
    if (!job_->done.load(std::memory_order_acquire)) {
      if (++polls_ % kBackupPollsPerProgress == 0) send_chunk("{\"progress\":\"copying\"}\n");
      evtimer_add(poll_.get(), &kBackupPoll);
      return;
    }
    if (!job_->status) {
      send_chunk(error_json(job_->status.message()));
    } else {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - job_->started);
      std::string line = "{\"ok\":true,\"dir\":";
      log::append_json_string(line, job_->dir);
      line += ",\"ms\":" + std::to_string(ms.count()) + "}\n";
      send_chunk(line);
    }
    end();  // deletes this, and the timer that is calling: allowed for a one-shot event
  }

  std::shared_ptr<BackupJob> job_;
  std::unique_ptr<event, EventFree> poll_;
  unsigned polls_ = 0;
};

void AdminServer::Impl::backup(evhttp_request* req, const RouteArgs& args) {
  std::string dir;
  QueryParams params;
  if (!params.parse(args.query ? args.query : "")) {
    send_error(req, HTTP_BADREQUEST, "Bad Request", "malformed query string");
    return;
  }
  for (const evkeyval* kv = params.get()->tqh_first; kv; kv = kv->next.tqe_next) {
    if (std::string_view(kv->key) != "dir") {
      send_error(req, HTTP_BADREQUEST, "Bad Request", "unknown parameter: " + std::string(kv->key));
      return;
    }
    dir = kv->value;
  }
  // Relative to what? The daemon's working directory is nobody's business.
  if (dir.empty() || dir[0] != '/') {
    send_error(req, HTTP_BADREQUEST, "Bad Request", "dir must be an absolute path");
    return;
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (backup_job && !backup_job->done.load(std::memory_order_acquire)) {
    send_error(req, kHttpConflict, "Conflict", "a backup into " + backup_job->dir + " is running");
    return;
  }
  if (backup_thread.joinable()) backup_thread.join();  // finished already: at once
  if (Status s = prepare_backup_dir(dir); !s) {
    send_error(req, kHttpConflict, "Conflict", s.message());
    return;
  }
  auto job = std::make_shared<BackupJob>();
  job->dir = dir;
  log::info("backup started", {{"dir", dir}});
  backup_thread = std::thread([job, &store = store] {
    Status s = store.checkpoint(job->dir + "/queue");
    if (s) s = write_manifest(job->dir);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - job->started);
    if (s) {
      log::info("backup done", {{"dir", job->dir}, {"ms", std::to_string(ms.count())}});
    } else {
      log::error("backup failed", {{"dir", job->dir}, {"reason", s.message()}});
    }
    job->status = std::move(s);
    job->done.store(true, std::memory_order_release);
  });
  backup_job = std::move(job);
  run(std::make_unique<Backup>(*this, req, backup_job));
}

// ---------------------------------------------------------------------------
// blacklist

// POST /v1/blacklist/check: answers when the round of checks it started is over, with the
// state as GET /v1/blacklist gives it. A client that leaves early leaves the round running.
class AdminServer::Impl::BlacklistCheck : public Stream {
 public:
  using Stream::Stream;

 protected:
  void start() override {
    std::weak_ptr<int> alive = alive_;
    server_.blacklist_check([this, alive] {
      if (alive.expired()) return;  // the client went and took this stream with it
      Result<std::string> status = server_.blacklist_status();
      if (!status) return reply_and_end(HTTP_INTERNAL, "Internal Server Error", status.message());
      reply_and_end(HTTP_OK, "OK", *status);
    });
  }

 private:
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

namespace {

// blacklist_state - the monitor's state, or false after answering 409: not configured
bool blacklist_state(evhttp_request* req, const std::function<Result<std::string>()>& status,
                     bool can_check, std::string* state) {
  Result<std::string> answer = status ? status() : Result<std::string>::error("no monitor");
  if (!answer || !can_check) {
    send_error(req, kHttpConflict, "Conflict",
               "blacklist monitoring is not configured (blacklist_monitor in hato.yaml)");
    return false;
  }
  *state = std::move(answer).value();
  return true;
}

}  // namespace

void AdminServer::Impl::blacklist(evhttp_request* req, const RouteArgs&) {
  std::string state;
  if (!blacklist_state(req, blacklist_status, static_cast<bool>(blacklist_check), &state)) return;
  send_json(req, HTTP_OK, "OK", state);
}

void AdminServer::Impl::blacklist_check_now(evhttp_request* req, const RouteArgs&) {
  std::string state;
  if (!blacklist_state(req, blacklist_status, static_cast<bool>(blacklist_check), &state)) return;
  log::info("admin blacklist check");
  run(std::make_unique<BlacklistCheck>(*this, req));
}

// ---------------------------------------------------------------------------
// cluster

// GET /v1/cluster: every live node's view, as each last wrote it to redis.
class AdminServer::Impl::ClusterView : public Stream {
 public:
  using Stream::Stream;

 protected:
  void start() override {
    std::weak_ptr<int> alive = alive_;
    server_.cluster_nodes([this, alive](Result<std::string> nodes) {
      if (alive.expired()) return;
      if (!nodes) {
        return reply_and_end(HTTP_SERVUNAVAIL, "Service Unavailable",
                             "redis cannot be reached: " + nodes.message());
      }
      reply_and_end(HTTP_OK, "OK", *nodes);
    });
  }

 private:
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

void AdminServer::Impl::cluster(evhttp_request* req, const RouteArgs&) {
  if (!cluster_nodes) {
    return send_error(req, kHttpConflict, "Conflict",
                      "this node is not in a cluster (cluster in hato.yaml)");
  }
  run(std::make_unique<ClusterView>(*this, req));
}

// ---------------------------------------------------------------------------
// warmup

void AdminServer::Impl::warmup(evhttp_request* req, const RouteArgs&) {
  send_json(req, HTTP_OK, "OK", warmup_status ? warmup_status() : std::string());
}

// ---------------------------------------------------------------------------
// tlsrpt

void AdminServer::Impl::tls_report(evhttp_request* req, const RouteArgs&) {
  send_json(req, HTTP_OK, "OK", tls_report_send());
}

// ---------------------------------------------------------------------------
// users

void AdminServer::Impl::reload_users(evhttp_request* req, const RouteArgs&) {
  Result<std::string> answer = users_reload();
  if (!answer) return send_error(req, HTTP_INTERNAL, "Internal Server Error", answer.message());
  send_json(req, HTTP_OK, "OK", *answer);
}

}  // namespace hato::cli
