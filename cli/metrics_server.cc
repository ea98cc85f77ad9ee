// metrics_server.cc - /metrics on net::HttpServer (so that SocketAddress, IPv6 and port 0
// work the same as for the SMTP listeners, and a flood of scrapers is capped).
#include "cli/metrics_server.h"

#include <optional>
#include <string>
#include <utility>

#include "common/log.h"
#include "common/metrics.h"
#include "net/http_server.h"

namespace hato::cli {

namespace {

net::HttpServerResponse text(int status, std::string body) {
  return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

// /metrics for GET and HEAD.
void on_request(net::HttpServerRequest& request, net::HttpResponder respond) {
  if (request.path != "/metrics") return respond(text(404, "not found; try /metrics\n"));
  if (request.method != "GET" && request.method != "HEAD") {
    net::HttpServerResponse refused = text(405, "use GET\n");
    refused.headers.emplace_back("Allow", "GET, HEAD");
    return respond(std::move(refused));
  }
  respond(
      {200, {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}, metrics().render()});
}

}  // namespace

struct MetricsServer::Impl {
  explicit Impl(hato::Loop& l) : loop(l) {}
  hato::Loop& loop;
  std::optional<net::HttpServer> http;
};

MetricsServer::MetricsServer(hato::Loop& loop) : impl_(std::make_unique<Impl>(loop)) {}

MetricsServer::~MetricsServer() = default;

const SocketAddress& MetricsServer::address() const {
  static const SocketAddress kNone;
  return impl_->http ? impl_->http->address() : kNone;
}

Status MetricsServer::listen(const SocketAddress& address) {
  if (impl_->http) return Status::error("metrics already listening");
  net::HttpServerOptions options;
  options.name = "metrics";
  impl_->http.emplace(impl_->loop, std::move(options), &on_request);
  Status s = impl_->http->listen(address);
  if (!s) {
    impl_->http.reset();
    return Status::error("metrics: " + s.message());
  }
  log::info("metrics listening", {{"address", impl_->http->address().to_string()}});
  return s;
}

}  // namespace hato::cli
