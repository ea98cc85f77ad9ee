// webhook.cc - the HTTP/1.1 POST client of policy/webhook.h, on libevent's evhttp.
//
// Order of one POST: resolve the host (unless it is an address), open an evhttp connection
// to the address, send the request with "Connection: close", and on the answer (or the
// timeout) free the connection from a posted task: evhttp must not be freed inside its own
// callback.
#include "policy/webhook.h"

#include <event2/buffer.h>
#include <event2/http.h>

#include "common/log.h"

namespace hato::policy {

namespace {

constexpr int kTimeoutSeconds = 10;
// An endpoint that hangs must not make notifications pile up without bound.
constexpr size_t kMaxInFlight = 100;

struct ConnectionFree {
  void operator()(evhttp_connection* c) const { evhttp_connection_free(c); }
};

std::string host_header(const conf::HttpUrl& url) {
  bool v6 = url.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + url.host + "]" : url.host;
  if (url.port != 80) host += ":" + std::to_string(url.port);
  return host;
}

}  // namespace

struct WebhookSender::Request {
  WebhookSender* owner;
  conf::HttpUrl url;
  std::string body;
  std::function<void(int, const std::string&)> done;
  std::unique_ptr<evhttp_connection, ConnectionFree> connection;
  bool finished = false;

  static void on_response(evhttp_request* req, void* arg) {
    auto* self = static_cast<Request*>(arg);
    if (self->finished) return;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    std::string error;
    if (status == 0) error = "no answer (connection refused, reset or timed out)";
    self->owner->finish(self, status, std::move(error));
  }
};

WebhookSender::WebhookSender(Loop& loop, relay::Resolver& resolver)
    : loop_(loop), resolver_(resolver) {}

WebhookSender::~WebhookSender() {
  alive_.reset();
  for (auto& [raw, request] : requests_) {
    request->finished = true;  // evhttp_connection_free must not call back into us
    request->connection.reset();
  }
}

size_t WebhookSender::in_flight() const {
  return requests_.size();
}

void WebhookSender::post(const conf::HttpUrl& url, std::string json,
                         std::function<void(int, const std::string&)> done) {
  auto request = std::make_unique<Request>();
  Request* r = request.get();
  r->owner = this;
  r->url = url;
  r->body = std::move(json);
  r->done = std::move(done);
  requests_.emplace(r, std::move(request));
  if (requests_.size() > kMaxInFlight) {
    finish(r, 0, "too many webhook requests in flight");
    return;
  }
  if (auto literal = SocketAddress::parse(url.host, url.port)) {
    send(r, *literal);
    return;
  }
  std::weak_ptr<int> alive = alive_;
  resolver_.addresses(url.host, [this, alive, r](relay::AddressResult result) {
    if (alive.expired()) return;
    if (result.status != relay::DnsStatus::kOk || result.addresses.empty()) {
      finish(r, 0, "cannot find an address for " + r->url.host + ": " + result.error);
      return;
    }
    SocketAddress to = result.addresses.front();
    to.set_port(r->url.port);
    send(r, to);
  });
}

void WebhookSender::send(Request* r, const SocketAddress& to) {
  // An address, so libevent's own lookup has nothing to look up and cannot block.
  r->connection.reset(
      evhttp_connection_base_new(loop_.base(), nullptr, to.ip().c_str(), to.port()));
  if (!r->connection) return finish(r, 0, "cannot create an HTTP connection");
  evhttp_connection_set_timeout(r->connection.get(), kTimeoutSeconds);
  evhttp_connection_set_retries(r->connection.get(), 0);
  evhttp_request* req = evhttp_request_new(&Request::on_response, r);
  if (!req) return finish(r, 0, "cannot create an HTTP request");
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Host", host_header(r->url).c_str());
  evhttp_add_header(headers, "Content-Type", "application/json");
  evhttp_add_header(headers, "User-Agent", "hato");
  evhttp_add_header(headers, "Connection", "close");
  evhttp_add_header(headers, "Content-Length", std::to_string(r->body.size()).c_str());
  evbuffer_add(evhttp_request_get_output_buffer(req), r->body.data(), r->body.size());
  // On failure evhttp_make_request frees the request itself.
  if (evhttp_make_request(r->connection.get(), req, EVHTTP_REQ_POST, r->url.path.c_str()) != 0)
    return finish(r, 0, "cannot send the HTTP request");
}

// finish - reports the outcome and frees the request from a posted task.
void WebhookSender::finish(Request* r, int status, std::string error) {
  if (r->finished) return;
  r->finished = true;
  std::weak_ptr<int> alive = alive_;
  loop_.post([this, alive, r, status, error = std::move(error)] {
    if (alive.expired()) return;
    auto it = requests_.find(r);
    if (it == requests_.end()) return;
    std::unique_ptr<Request> request = std::move(it->second);
    requests_.erase(it);
    std::string url = "http://" + host_header(request->url) + request->url.path;
    if (status >= 200 && status < 300) {
      log::info("webhook sent", {{"url", url}, {"status", std::to_string(status)}});
    } else {
      log::warning("webhook failed", {{"url", url},
                                      {"status", std::to_string(status)},
                                      {"reason", error.empty() ? "the endpoint answered HTTP " +
                                                                     std::to_string(status)
                                                               : error}});
    }
    if (request->done) request->done(status, error);
  });
}

}  // namespace hato::policy
