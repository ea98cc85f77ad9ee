// admin_server.cc - the admin API on libevent's HTTP server over a Unix socket: the socket
// file, the router, the reply helpers and the life of Streams. The handlers live in one file
// per area (admin_impl.h says which); the whole picture is in admin_impl.h.
#include "cli/admin_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

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

bool read_query(
    evhttp_request* req, const char* query,
    const std::function<std::string(std::string_view key, std::string_view value)>& take) {
  evkeyvalq params{};
  if (evhttp_parse_query_str(query ? query : "", &params) != 0) {
    evhttp_clear_headers(&params);
    send_error(req, HTTP_BADREQUEST, "Bad Request", "malformed query string");
    return false;
  }
  std::string refused;
  for (const evkeyval* kv = params.tqh_first; kv && refused.empty(); kv = kv->next.tqe_next)
    refused = take(kv->key, kv->value);
  evhttp_clear_headers(&params);
  if (refused.empty()) return true;
  send_error(req, HTTP_BADREQUEST, "Bad Request", refused);
  return false;
}

std::string unknown_parameter(std::string_view key) {
  return "unknown parameter: " + std::string(key);
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
      {"/v1/events/status", EVHTTP_REQ_GET, &Impl::webhooks},
      {"/v1/backup", EVHTTP_REQ_POST, &Impl::backup},
      {"/v1/blacklist", EVHTTP_REQ_GET, &Impl::blacklist},
      {"/v1/blacklist/check", EVHTTP_REQ_POST, &Impl::blacklist_check_now},
      {"/v1/cluster", EVHTTP_REQ_GET, &Impl::cluster},
      {"/v1/warmup", EVHTTP_REQ_GET, &Impl::warmup},
      {"/v1/tlsrpt/send", EVHTTP_REQ_POST, &Impl::tls_report, &Impl::has_tls_report_send},
      {"/v1/dmarc", EVHTTP_REQ_GET, &Impl::dmarc, &Impl::has_dmarc_summary},
      {"/v1/users/reload", EVHTTP_REQ_POST, &Impl::reload_users, &Impl::has_users_reload},
      {"/v1/users/frozen", EVHTTP_REQ_GET, &Impl::frozen_users, &Impl::has_brake},
      {"/v1/users/*/thaw", EVHTTP_REQ_POST, &Impl::thaw_user, &Impl::has_brake},
      {"/v1/users/*/baseline", EVHTTP_REQ_POST, &Impl::user_baseline, &Impl::has_brake},
      {"/v1/suppress", EVHTTP_REQ_GET | EVHTTP_REQ_POST, &Impl::suppress_list,
       &Impl::has_suppression},
      {"/v1/suppress/remove", EVHTTP_REQ_POST, &Impl::suppress_remove, &Impl::has_suppression},
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

  EvhttpPtr server(evhttp_new(loop.base()));
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

void AdminServer::set_dmarc_summary(
    std::function<Result<std::string>(const std::string&, int)> summary) {
  impl_->dmarc_summary = std::move(summary);
}

void AdminServer::set_suppression(policy::SuppressionList* list) {
  impl_->suppression = list;
}

void AdminServer::set_brake(policy::UserBrake* brake) {
  impl_->brake = brake;
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

void AdminServer::set_events_status(std::function<std::string()> status) {
  impl_->events_status = std::move(status);
}

void AdminServer::set_blacklist(std::function<Result<std::string>()> status,
                                std::function<void(std::function<void()>)> check) {
  impl_->blacklist_status = std::move(status);
  impl_->blacklist_check = std::move(check);
}

}  // namespace hato::cli
