// ticket_keys.h - the keys that seal TLS session tickets, one set for the whole process.
//
// A ticket (RFC 5077; TLS 1.3's stateless PSK) lets a client that comes back skip the
// certificate signature and key exchange of a full handshake: what a client that opens a
// connection per message pays most. OpenSSL would draw a key per SSL_CTX and keep it
// forever; these keys instead outlive a certificate reload (a new SSL_CTX) and are rotated:
// a new key seals tickets every `rotation` (a day), the one before it still opens them,
// older ones are forgotten, so a stolen key exposes at most two days of resumptions.
// Several nodes do not share keys: a client resumes only with the node that sealed it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

typedef struct ssl_ctx_st SSL_CTX;

namespace hato::net {

class TicketKeys {
 public:
  struct Key {
    std::array<unsigned char, 16> name;  // sent in the clear in each ticket
    std::array<unsigned char, 32> aes;   // AES-256-CBC
    std::array<unsigned char, 32> hmac;  // HMAC-SHA256
    int64_t made = 0;                    // Unix seconds
  };

  explicit TicketKeys(std::chrono::seconds rotation = std::chrono::hours(24));

  // The key to seal a new ticket with at `now`, rotated first if it is due.
  Key current(int64_t now);
  // The key a presented ticket names, if it is still one of ours; `renew` says the client
  // should get a ticket under the current key.
  std::optional<Key> find(const unsigned char* name, int64_t now, bool* renew);

  // Makes every ticket of `ctx` sealed and opened with the process's keys.
  static void install(SSL_CTX* ctx);

 private:
  void rotate_if_due(int64_t now);  // mu_ held

  std::chrono::seconds rotation_;
  std::mutex mu_;  // SSL_CTXs may be used from several threads
  std::optional<Key> current_;
  std::optional<Key> previous_;
};

}  // namespace hato::net
