// metrics_server.cc - libevent's HTTP server on a TCP socket we bind ourselves
// (so that SocketAddress, IPv6 and port 0 work the same as for the listeners).
#include "cli/metrics_server.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "common/log.h"
#include "common/metrics.h"
#include "common/unique_fd.h"
#include "net/accept_guard.h"
#include "net/event_handles.h"

namespace hato::cli {

namespace {

void reply_text(evhttp_request* req, int code, const char* reason, std::string_view body) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/plain; charset=utf-8");
  evbuffer_add(evhttp_request_get_output_buffer(req), body.data(), body.size());
  evhttp_send_reply(req, code, reason, nullptr);
}

// on_request - /metrics for GET (and HEAD, which libevent answers without the body)
void on_request(evhttp_request* req, void*) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri ? evhttp_uri_get_path(uri) : nullptr;
  std::string_view path = raw_path ? raw_path : "";
  if (path != "/metrics") {
    reply_text(req, HTTP_NOTFOUND, "Not Found", "not found; try /metrics\n");
    return;
  }
  evhttp_cmd_type method = evhttp_request_get_command(req);
  if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    reply_text(req, HTTP_BADMETHOD, "Method Not Allowed", "use GET\n");
    return;
  }
  std::string text = metrics().render();
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/plain; version=0.0.4; charset=utf-8");
  evbuffer_add(evhttp_request_get_output_buffer(req), text.data(), text.size());
  evhttp_send_reply(req, HTTP_OK, "OK", nullptr);
}

}  // namespace

struct MetricsServer::Impl {
  explicit Impl(hato::Loop& l) : loop(l) {}
  hato::Loop& loop;
  net::EvhttpPtr http;
  std::unique_ptr<net::AcceptGuard> guard;  // after http: goes first
  SocketAddress bound;
};

MetricsServer::MetricsServer(hato::Loop& loop) : impl_(std::make_unique<Impl>(loop)) {}

MetricsServer::~MetricsServer() = default;

const SocketAddress& MetricsServer::address() const {
  return impl_->bound;
}

Status MetricsServer::listen(const SocketAddress& address) {
  if (impl_->http) return Status::error("metrics already listening");
  std::string where = address.to_string();
  auto failed = [&where](const char* what) {
    return Status::error("metrics " + where + ": " + what + ": " + std::strerror(errno));
  };
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return failed("socket");
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return failed("setsockopt");
  }
  if (::bind(fd.get(), address.sa(), address.length) != 0) return failed("bind");
  if (::listen(fd.get(), SOMAXCONN) != 0) return failed("listen");
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    return failed("getsockname");
  }

  net::EvhttpPtr http(evhttp_new(impl_->loop.base()));
  if (!http) return Status::error("metrics " + where + ": evhttp_new failed");
  evhttp_set_allowed_methods(http.get(), EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
  // Scrapers send small GETs; anything else is dropped early.
  evhttp_set_max_headers_size(http.get(), 16 * 1024);
  evhttp_set_max_body_size(http.get(), 0);
  evhttp_set_timeout(http.get(), 30);
  evhttp_set_gencb(http.get(), &on_request, nullptr);
  // The listener closes the fd when the evhttp is freed.
  evhttp_bound_socket* socket = evhttp_accept_socket_with_handle(http.get(), fd.get());
  if (socket == nullptr) {
    return Status::error("metrics " + where + ": evhttp_accept_socket failed");
  }
  fd.release();
  impl_->guard.reset();
  impl_->http = std::move(http);
  impl_->guard = std::make_unique<net::AcceptGuard>(
      impl_->loop, evhttp_bound_socket_get_listener(socket), "metrics");
  impl_->bound = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&bound), length);
  log::info("metrics listening", {{"address", impl_->bound.to_string()}});
  return Status::ok();
}

}  // namespace hato::cli
