// acme.h - an ACME client (RFC 8555) on the loop: account, order, HTTP-01 challenges,
// finalize with a CSR, certificate download, renewal at two thirds of the lifetime.
//
// The account key (EC P-256, ES256 signatures) lives in <dir>/account.key; the certificate
// and its key are written to the configured certificate and key files (mode 0600) by
// rename, and `installed` runs so the new pair serves the next connection. Requests go
// through HttpClient, verified against the system's CAs plus tls.acme.ca_file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/loop.h"
#include "common/status.h"
#include "common/worker_pool.h"
#include "net/http_client.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace hato::relay {

namespace acme {

struct PKeyFree {
  void operator()(EVP_PKEY* key) const;
};
using PKey = std::unique_ptr<EVP_PKEY, PKeyFree>;

Result<PKey> generate_key();  // EC P-256
std::string key_pem(EVP_PKEY* key);
Result<PKey> parse_key_pem(std::string_view pem);
// The key at `path`, made (mode 0600) when there is none.
Result<PKey> load_or_create_key(const std::string& path);

// RFC 7517 public JWK, members in the order RFC 7638 hashes them.
std::string jwk_json(EVP_PKEY* key);
// RFC 7638 thumbprint, base64url.
std::string jwk_thumbprint(EVP_PKEY* key);
// RFC 8555 8.1: token "." thumbprint.
std::string key_authorization(std::string_view token, EVP_PKEY* account_key);

// A flattened JWS (RFC 7515 7.2.2) signed ES256: `kid` set, or else the JWK in the header
// (newAccount). `payload` empty: POST-as-GET (RFC 8555 6.3).
Result<std::string> sign_jws(EVP_PKEY* key, const std::string& kid, const std::string& nonce,
                             const std::string& url, const std::string& payload);

// RFC 8737 3: the self-signed certificate a TLS-ALPN-01 validation must see for `name`: that
// name alone in subjectAltName, and the critical acmeIdentifier extension holding the
// SHA-256 of the key authorization. PEM of the certificate and of its new key.
Result<std::pair<std::string, std::string>> make_alpn_certificate(
    const std::string& name, const std::string& key_authorization);

// A DER PKCS#10 request for `names` (first as CN, all in subjectAltName), signed by `key`.
Result<std::string> make_csr(EVP_PKEY* key, const std::vector<std::string>& names);

}  // namespace acme

class AcmeClient {
 public:
  struct Options {
    std::string directory;  // URL of the directory
    std::string email;      // account contact; may be empty
    std::vector<std::string> domains;
    std::string state_dir;  // <data_dir>/acme: account.key
    std::string certificate, key;
    std::chrono::seconds renew_before{0};  // 0: at two thirds of the lifetime
    bool tls_alpn = false;                 // answer tls-alpn-01 (our port 443) rather than http-01
  };

  // Files are written on `workers`; everything else runs on the loop.
  AcmeClient(Loop& loop, net::HttpClient& http, WorkerPool& workers, Options options,
             std::function<void()> installed);
  ~AcmeClient();
  AcmeClient(const AcmeClient&) = delete;
  AcmeClient& operator=(const AcmeClient&) = delete;

  // Loads the account key and schedules the first order: now, unless the certificate file
  // already covers every domain, is CA-issued and is not yet due for renewal.
  [[nodiscard]] Status start();
  // The key authorization for an HTTP-01 token this client is waiting on.
  std::optional<std::string> http01(const std::string& token) const;
  // TLS-ALPN-01: puts the challenge certificate for `name` on `ssl`; false when none waits.
  bool tls_alpn01(SSL* ssl, const std::string& name) const;

 private:
  struct Order;
  using Done = std::function<void(Result<net::HttpResponse>)>;

  void schedule(std::chrono::seconds delay);
  void begin();
  void post(const std::string& url, const std::string& payload, Done done, int attempt = 0);
  void with_nonce(std::function<void(Status)> then);
  void failed(const std::string& step, const std::string& why);
  void new_account();
  void new_order();
  void next_authorization(size_t i);
  void poll_authorization(size_t i, int tries);
  void finalize();
  void poll_order(int tries);
  void download(const std::string& url);
  void install(const std::string& chain);
  void installed(Status written, int64_t not_before, int64_t not_after);
  int64_t renewal_time(int64_t not_before, int64_t not_after) const;

  Loop& loop_;
  net::HttpClient& http_;
  WorkerPool& workers_;
  Options options_;
  std::function<void()> installed_;
  acme::PKey account_key_;
  std::string kid_;
  std::string nonce_;
  JsonValue directory_;
  std::unique_ptr<Order> order_;
  std::map<std::string, std::string> challenges_;                    // token -> key authorization
  std::map<std::string, std::pair<std::string, std::string>> alpn_;  // name -> cert, key PEM
  Timer timer_;
  std::chrono::seconds backoff_{0};
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hato::relay
