// connector.h - where an attempt's connections come from: TCP and TLS for real
// (ClientConnection), a scripted server in the engine's unit tests.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/net.h"
#include "common/status.h"
#include "net/tls.h"
#include "relay/client_session.h"

namespace hato::relay {

// One outbound connection carrying one ClientSession.
class Connection : public ClientIo {
 public:
  // The session that hears connected(), receive(), tls_established() and closed().
  virtual void attach(ClientSession* session) = 0;
  // How the server's certificate is checked after TLS (MTA-STS, DANE); before connect().
  virtual void set_peer_check(net::PeerCheck check) = 0;
  // Starts connecting; the session hears connected() or closed(). `source` binds the local
  // address first (egress addresses).
  [[nodiscard]] virtual Status connect(const SocketAddress& to,
                                       const std::optional<SocketAddress>& source,
                                       bool implicit_tls,
                                       std::chrono::milliseconds connect_timeout) = 0;
  // After TLS: "" when the check passed, else why not; and its RFC 8460 result type.
  virtual const std::string& peer_check_error() const = 0;
  virtual const std::string& peer_check_type() const = 0;
  virtual bool tls_done() const = 0;
  virtual bool ever_connected() const = 0;
  // Why the connection failed, in words ("Connection refused").
  virtual const std::string& error() const = 0;
};

class Connector {
 public:
  virtual ~Connector() = default;
  // A new, unconnected connection; `sni` names the server in the TLS handshake.
  virtual std::unique_ptr<Connection> make(const std::string& sni) = 0;
};

// Real connections on `loop`, with `tls` for STARTTLS and implicit TLS.
std::unique_ptr<Connector> make_tcp_connector(Loop& loop, std::shared_ptr<net::TlsContext> tls);

}  // namespace hato::relay
