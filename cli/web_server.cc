// web_server.cc - the MTA-STS and ACME documents on net::HttpServer; for TLS each connection
// gets an SSL made from the current context, or from the ACME TLS-ALPN-01 front context.
#include "cli/web_server.h"

#include <openssl/ssl.h>

#include <cstring>
#include <optional>
#include <utility>

#include "common/log.h"
#include "net/http_server.h"

namespace hato::cli {

struct WebServer::Impl {
  Impl(hato::Loop& l, std::string n, Handler h)
      : loop(l), name(std::move(n)), handler(std::move(h)) {}
  hato::Loop& loop;
  std::string name;
  Handler handler;
  std::shared_ptr<net::TlsContext> tls;
  AlpnChallenge alpn;
  SSL_CTX* front = nullptr;  // with alpn: every handshake starts here, see on_client_hello
  std::optional<net::HttpServer> http;
  ~Impl() {
    http.reset();
    SSL_CTX_free(front);
  }
};

namespace {

constexpr unsigned char kAcmeTls[] =
    "\x0a"
    "acme-tls/1";  // ALPN wire form

// The first host_name of a ClientHello's server_name extension.
std::string sni_of(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t n = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) || n < 5 || p[2] != 0)
    return "";
  size_t len = (size_t{p[3]} << 8) | p[4];
  if (5 + len > n) return "";
  return std::string(reinterpret_cast<const char*>(p + 5), len);
}

bool offers_acme_tls(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t n = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &n) ||
      n < 2)
    return false;
  for (size_t i = 2; i < n; i += 1 + p[i]) {
    if (i + 1 + p[i] <= n && p[i] == 10 && std::memcmp(p + i, kAcmeTls, 11) == 0) return true;
  }
  return false;
}

// A challenge handshake stays on the front context with the challenge certificate; any
// other moves to the server's context before anything is chosen.
int on_client_hello(SSL* ssl, int* alert, void* arg) {
  auto* impl = static_cast<WebServer::Impl*>(arg);
  if (impl->alpn && offers_acme_tls(ssl) && impl->alpn(ssl, sni_of(ssl)))
    return SSL_CLIENT_HELLO_SUCCESS;
  if (!impl->tls || !SSL_set_SSL_CTX(ssl, impl->tls->get())) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kAcmeTls, 11, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // RFC 8737 3: only acme-tls/1 here
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

SSL* new_ssl(WebServer::Impl& impl) {
  if (impl.front) return SSL_new(impl.front);
  return impl.tls ? impl.tls->new_ssl() : nullptr;
}

void serve(WebServer::Impl& impl, net::HttpServerRequest& request, net::HttpResponder respond) {
  if (request.method != "GET" && request.method != "HEAD") {
    return respond({405, {{"Allow", "GET, HEAD"}}, "only GET and HEAD here\n"});
  }
  WebReply reply = impl.handler(request.host(), request.path);
  respond({reply.status,
           {{"Content-Type", reply.content_type}, {"Cache-Control", "no-store"}},
           std::move(reply.body)});
}

}  // namespace

WebServer::WebServer(hato::Loop& loop, std::string name, Handler handler)
    : impl_(std::make_unique<Impl>(loop, std::move(name), std::move(handler))) {}

WebServer::~WebServer() = default;

void WebServer::set_tls(std::shared_ptr<net::TlsContext> tls) {
  impl_->tls = std::move(tls);
}

void WebServer::set_acme_tls_alpn(AlpnChallenge challenge) {
  if (!impl_->front) {
    impl_->front = SSL_CTX_new(TLS_server_method());
    if (!impl_->front) return;
    SSL_CTX_set_min_proto_version(impl_->front, TLS1_2_VERSION);
    SSL_CTX_set_client_hello_cb(impl_->front, &on_client_hello, impl_.get());
    SSL_CTX_set_alpn_select_cb(impl_->front, &on_alpn, nullptr);
  }
  impl_->alpn = std::move(challenge);
}

const SocketAddress& WebServer::address() const {
  static const SocketAddress kNone;
  return impl_->http ? impl_->http->address() : kNone;
}

Status WebServer::listen(const SocketAddress& address) {
  if (impl_->http) return Status::error(impl_->name + " already listening");
  net::HttpServerOptions options;
  options.name = impl_->name;
  if (impl_->tls) options.tls = [impl = impl_.get()] { return new_ssl(*impl); };
  Impl* impl = impl_.get();
  impl_->http.emplace(impl_->loop, std::move(options),
                      [impl](net::HttpServerRequest& request, net::HttpResponder respond) {
                        serve(*impl, request, std::move(respond));
                      });
  Status s = impl_->http->listen(address);
  if (!s) {
    impl_->http.reset();
    return s;
  }
  log::info("listening",
            {{"listener", impl_->name}, {"address", impl_->http->address().to_string()}});
  return s;
}

}  // namespace hato::cli
