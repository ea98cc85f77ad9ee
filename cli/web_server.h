// web_server.h - a small HTTP(S) server for the documents Hato publishes itself: the
// MTA-STS policy (HTTPS, with the SMTP listeners' certificate) and ACME HTTP-01
// challenge answers (plain HTTP). GET and HEAD only; the answer comes from a handler
// given the request's Host (lower case, without port) and path.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/loop.h"
#include "common/net.h"
#include "common/status.h"
#include "net/tls.h"

namespace hato::cli {

struct WebReply {
  int status = 404;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body = "not found\n";
};

class WebServer {
 public:
  using Handler = std::function<WebReply(const std::string& host, const std::string& path)>;
  // `name` appears in the logs ("mta-sts", "acme-http").
  WebServer(hato::Loop& loop, std::string name, Handler handler);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // With a context the server speaks TLS only; the next connection uses the newest one,
  // so a renewed certificate needs no restart.
  void set_tls(std::shared_ptr<net::TlsContext> tls);
  // ACME TLS-ALPN-01 (RFC 8737): a handshake offering ALPN "acme-tls/1" for a name
  // `challenge` accepts (it installs the challenge certificate on the SSL) gets that
  // certificate and the protocol; every other handshake goes on with the context above.
  using AlpnChallenge = std::function<bool(SSL* ssl, const std::string& name)>;
  void set_acme_tls_alpn(AlpnChallenge challenge);
  // Binds `address` (port 0: the kernel picks one) and logs `<name> listening address=...`.
  [[nodiscard]] hato::Status listen(const hato::SocketAddress& address);
  const hato::SocketAddress& address() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hato::cli
