// web_server.cc - libevent's HTTP server on a socket we bind ourselves; for TLS each
// connection gets an OpenSSL bufferevent made from the current context (evhttp_set_bevcb).
#include "cli/web_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/log.h"
#include "common/strings.h"
#include "net/accept_guard.h"
#include "net/event_handles.h"

namespace hato::cli {

namespace {

std::string request_host(evhttp_request* req) {
  const char* raw = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
  std::string host = raw ? raw : "";
  if (!host.empty() && host[0] == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (auto colon = host.find(':'); colon != std::string::npos) {
    host.resize(colon);
  }
  host = ascii_lower(host);
  while (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

}  // namespace

struct WebServer::Impl {
  Impl(hato::Loop& l, std::string n, Handler h)
      : loop(l), name(std::move(n)), handler(std::move(h)) {}
  hato::Loop& loop;
  std::string name;
  Handler handler;
  std::shared_ptr<net::TlsContext> tls;
  AlpnChallenge alpn;
  SSL_CTX* front = nullptr;  // with alpn: every handshake starts here, see on_client_hello
  net::EvhttpPtr http;
  std::unique_ptr<net::AcceptGuard> guard;  // after http: goes first
  ~Impl() { SSL_CTX_free(front); }
  SocketAddress bound;
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

bufferevent* make_bufferevent(event_base* base, void* arg) {
  auto* impl = static_cast<WebServer::Impl*>(arg);
  if (!impl->tls) return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  SSL* ssl = impl->front ? SSL_new(impl->front) : impl->tls->new_ssl();
  return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                        BEV_OPT_CLOSE_ON_FREE);
}

void on_request(evhttp_request* req, void* arg) {
  auto* impl = static_cast<WebServer::Impl*>(arg);
  evhttp_cmd_type method = evhttp_request_get_command(req);
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
    evhttp_add_header(out, "Allow", "GET, HEAD");
    evhttp_send_reply(req, HTTP_BADMETHOD, "Method Not Allowed", nullptr);
    return;
  }
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri ? evhttp_uri_get_path(uri) : nullptr;
  WebReply reply = impl->handler(request_host(req), raw_path ? raw_path : "");
  evhttp_add_header(out, "Content-Type", reply.content_type.c_str());
  evhttp_add_header(out, "Cache-Control", "no-store");
  evbuffer_add(evhttp_request_get_output_buffer(req), reply.body.data(), reply.body.size());
  const char* reason = reply.status == 200 ? "OK" : reply.status == 404 ? "Not Found" : "Error";
  evhttp_send_reply(req, reply.status, reason, nullptr);
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
  return impl_->bound;
}

Status WebServer::listen(const SocketAddress& address) {
  if (impl_->http) return Status::error(impl_->name + " already listening");
  std::string where = impl_->name + " " + address.to_string();
  auto failed = [&where](const char* what) {
    return Status::error(where + ": " + what + ": " + std::strerror(errno));
  };
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return failed("socket");
  auto close_fd = [&fd] { ::close(std::exchange(fd, -1)); };
  int one = 1;
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, address.sa(), address.length) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    Status s = failed("bind");
    close_fd();
    return s;
  }
  net::EvhttpPtr http(evhttp_new(impl_->loop.base()));
  if (!http) {
    close_fd();
    return Status::error(where + ": evhttp_new failed");
  }
  evhttp_set_allowed_methods(http.get(), EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
  evhttp_set_max_headers_size(http.get(), 16 * 1024);
  evhttp_set_max_body_size(http.get(), 0);
  evhttp_set_timeout(http.get(), 30);
  evhttp_set_bevcb(http.get(), &make_bufferevent, impl_.get());
  evhttp_set_gencb(http.get(), &on_request, impl_.get());
  // The listener owns the fd from here: freeing the evhttp closes it.
  evhttp_bound_socket* socket = evhttp_accept_socket_with_handle(http.get(), fd);
  if (socket == nullptr) {
    close_fd();
    return Status::error(where + ": evhttp_accept_socket failed");
  }
  impl_->guard.reset();
  impl_->http = std::move(http);
  impl_->guard = std::make_unique<net::AcceptGuard>(
      impl_->loop, evhttp_bound_socket_get_listener(socket), impl_->name);
  impl_->bound = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&bound), length);
  log::info("listening", {{"listener", impl_->name}, {"address", impl_->bound.to_string()}});
  return Status::ok();
}

}  // namespace hato::cli
