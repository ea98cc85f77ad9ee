// tls.h - the server's TLS context (OpenSSL), and the self-signed pair the
// embedded default makes on first start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hato::relay {

// Owns an SSL_CTX: TLS 1.2 or newer, forward-secret AEAD ciphers only.
class TlsContext {
 public:
  static Result<std::shared_ptr<TlsContext>> load_server(const std::string& certificate,
                                                         const std::string& key);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // For outbound SMTP: TLS 1.2 or newer; certificates are not verified here
  // (opportunistic TLS, RFC 7435) - MTA-STS and DANE add that per destination.
  static Result<std::shared_ptr<TlsContext>> make_client();

  SSL* new_ssl() const;  // the caller owns it
  // When the certificate stops being valid (Unix seconds), 0 if unknown.
  int64_t not_after() const;
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

// Writes a new EC P-256 key (mode 0600) and a self-signed certificate for
// `hostname`, valid for ten years.
Status generate_self_signed(const std::string& certificate, const std::string& key,
                            const std::string& hostname);

// The reason for the last OpenSSL error, in words.
std::string openssl_error();

}  // namespace hato::relay
