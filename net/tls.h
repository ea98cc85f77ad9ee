// tls.h - the server's TLS context (OpenSSL), and the self-signed pair the
// embedded default makes on first start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/tlsa.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hato::net {

// A certificate chain and its private key, PEM files.
struct CertificateFiles {
  std::string certificate, key;
};

// Owns an SSL_CTX: TLS 1.2 or newer, forward-secret AEAD ciphers only.
class TlsContext {
 public:
  static Result<std::shared_ptr<TlsContext>> load_server(const std::string& certificate,
                                                         const std::string& key);
  // Several pairs of different key types (RSA and ECDSA): in each handshake OpenSSL serves
  // one whose signature the client's signature_algorithms (and, in TLS 1.2, the cipher
  // suites) allow. Two pairs of one key type are refused: the second would replace the first.
  static Result<std::shared_ptr<TlsContext>> load_server(
      const std::vector<CertificateFiles>& pairs);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // For outbound SMTP and HTTPS: TLS 1.2 or newer. The trust store is the
  // system's CAs plus `ca_file` when given; certificates are not verified by
  // default (opportunistic TLS, RFC 7435): MTA-STS, DANE and the HTTP client
  // ask for it per connection (PeerCheck, SSL_set_verify).
  static Result<std::shared_ptr<TlsContext>> make_client(const std::string& ca_file = "");

  SSL* new_ssl() const;  // the caller owns it
  // When the first of its certificates stops being valid (Unix seconds), 0 if unknown.
  int64_t not_after() const { return not_after_; }
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
  int64_t not_after_ = 0;
};

// How an outbound connection checks the server's certificate once the handshake is done.
struct PeerCheck {
  enum class Kind { kNone, kPkix, kDane };
  Kind kind = Kind::kNone;
  // kPkix: names the certificate must carry (the MX host); a chain to a trusted CA.
  // kDane: the TLSA base domain first (the MX host), then other acceptable names.
  std::vector<std::string> names;
  std::vector<TlsaRecord> tlsa;  // kDane
  bool enforce = false;          // a failed check ends the connection before EHLO
};

// Sets up `ssl` for the check before the handshake; an error for unusable parameters.
Status apply_peer_check(SSL* ssl, const PeerCheck& check);
// After the handshake: "" when the check passed (or there is none), else why not, in words.
// `result_type` gets the RFC 8460 failure type (certificate-host-mismatch, ...).
std::string peer_check_failure(SSL* ssl, const PeerCheck& check, std::string* result_type);

// Writes a new EC P-256 key (mode 0600) and a self-signed certificate for
// `hostname`, valid for ten years.
Status generate_self_signed(const std::string& certificate, const std::string& key,
                            const std::string& hostname);

// The reason for the last OpenSSL error, in words.
std::string openssl_error();

}  // namespace hato::net
