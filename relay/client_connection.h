// client_connection.h - an outbound TCP connection (libevent bufferevent,
// OpenSSL after STARTTLS or from the start) that carries a ClientSession.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/loop.h"
#include "common/net.h"
#include "net/event_handles.h"
#include "net/tls.h"
#include "relay/client_session.h"
#include "relay/connector.h"

struct bufferevent;

namespace hato::relay {

class ClientConnection : public Connection {
 public:
  // `sni` names the server in the TLS handshake (RFC 6066); may be empty.
  ClientConnection(Loop& loop, std::shared_ptr<net::TlsContext> tls, std::string sni);
  ~ClientConnection() override;
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  void attach(ClientSession* session) override { session_ = session; }
  // How the server's certificate is checked after TLS (MTA-STS, DANE); before connect().
  void set_peer_check(net::PeerCheck check) override { check_ = std::move(check); }
  // After TLS: "" when the check passed, else why not; and its RFC 8460 result type.
  const std::string& peer_check_error() const override { return check_error_; }
  const std::string& peer_check_type() const override { return check_type_; }
  bool tls_done() const override { return tls_done_; }
  // Starts connecting; the session hears connected() or closed(). `source`
  // binds the local address first (egress addresses).
  Status connect(const SocketAddress& to, const std::optional<SocketAddress>& source,
                 bool implicit_tls, std::chrono::milliseconds connect_timeout) override;
  // Why the connection failed, in words ("Connection refused").
  const std::string& error() const override { return error_; }
  bool ever_connected() const override { return connected_; }

  // ClientIo
  void send(std::string_view bytes) override;
  void start_tls() override;
  void close() override;
  void set_timeout(std::chrono::milliseconds timeout) override;

 private:
  static void on_read(bufferevent* bev, void* arg);
  static void on_event(bufferevent* bev, short what, void* arg);
  void install();
  void gone();
  SSL* make_ssl();

  Loop& loop_;
  std::shared_ptr<net::TlsContext> tls_;
  std::string sni_;
  ClientSession* session_ = nullptr;
  bool tls_pending_ = false;
  bool connected_ = false;
  bool closed_ = false;
  bool tls_done_ = false;
  std::string error_;
  net::PeerCheck check_;
  std::string check_error_;
  std::string check_type_;
  // Last, so it is freed first, as ~ClientConnection did by hand before.
  net::BuffereventPtr bev_;
};

}  // namespace hato::relay
