// ticket_keys.cc - see ticket_keys.h.
#include "net/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>
#include <ctime>

namespace hato::net {

namespace {

std::optional<TicketKeys::Key> fresh_key(int64_t now) {
  TicketKeys::Key k;
  if (RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) != 1 ||
      RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size())) != 1 ||
      RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) != 1)
    return std::nullopt;
  k.made = now;
  return k;
}

TicketKeys& process_keys() {
  static TicketKeys keys;  // lives until exit: contexts made at any time use it
  return keys;
}

bool set_hmac_key(EVP_MAC_CTX* hctx, TicketKeys::Key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// OpenSSL's ticket callback: enc 1 seals a new ticket, 0 opens one. Returns -1 for an
// error, 0 for "not ours" (a full handshake), 1 to use it, 2 to use it and send a new one.
int ticket_callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cctx,
                    EVP_MAC_CTX* hctx, int enc) {
  int64_t now = static_cast<int64_t>(time(nullptr));
  if (enc == 1) {
    TicketKeys::Key key = process_keys().current(now);
    if (key.made == 0) return -1;
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
    std::memcpy(name, key.name.data(), key.name.size());
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) return -1;
    return set_hmac_key(hctx, key) ? 1 : -1;
  }
  bool renew = false;
  auto key = process_keys().find(name, now, &renew);
  if (!key) return 0;
  if (!set_hmac_key(hctx, *key)) return -1;
  if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1) return -1;
  // A TLS 1.3 ticket is for one use (RFC 8446 C.4), and OpenSSL sends a resumed client
  // a new one only when asked: without it the client's next handshake would be a full one.
  return renew || SSL_version(ssl) >= TLS1_3_VERSION ? 2 : 1;
}

}  // namespace

TicketKeys::TicketKeys(std::chrono::seconds rotation) : rotation_(rotation) {}

void TicketKeys::rotate_if_due(int64_t now) {
  if (current_ && now - current_->made < rotation_.count()) return;
  // The one before stays for opening, unless it is itself past its second period.
  previous_.reset();
  if (current_ && now - current_->made < 2 * rotation_.count()) previous_ = current_;
  current_ = fresh_key(now);
}

TicketKeys::Key TicketKeys::current(int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  rotate_if_due(now);
  return current_ ? *current_ : Key{};  // made 0: no randomness, no ticket
}

std::optional<TicketKeys::Key> TicketKeys::find(const unsigned char* name, int64_t now,
                                                bool* renew) {
  std::lock_guard<std::mutex> lock(mu_);
  rotate_if_due(now);
  *renew = false;
  if (current_ && std::memcmp(name, current_->name.data(), current_->name.size()) == 0)
    return current_;
  if (previous_ && std::memcmp(name, previous_->name.data(), previous_->name.size()) == 0) {
    *renew = true;
    return previous_;
  }
  return std::nullopt;
}

void TicketKeys::install(SSL_CTX* ctx) {
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback);
}

}  // namespace hato::net
