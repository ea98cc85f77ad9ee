// idempotency.h - the HTTP API's Idempotency-Key (issue 22): a POST retried with the key of an
// earlier one gets the first answer again instead of queuing a second message.
//
// The answer to a request that queued a message is written in the same synced batch as the
// message (Transaction::commit's state records), so a crash cannot keep one without the
// other. Records live in the state family (queue/state_keys.h, kind kIdempotency) per user and
// SHA-256 of the key, with the request's fingerprint: the same key with a different request is
// refused, not answered with someone else's queue ID. Kept 24 hours; a sweep removes older
// ones. A second request with a key whose first is still being decided is told to wait (409).
// Refusals are not recorded: a request refused for a passing reason may be retried as it is.
// Loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "queue/store.h"

namespace hato::relay {

struct IdempotentAnswer {
  int64_t created_ms = 0;
  std::string fingerprint;  // of the request: sha256 hex of its target and body
  int status = 202;
  std::string body;
};

class IdempotencyKeys {
 public:
  static constexpr int64_t kKeepMs = 24 * 3600 * 1000;
  explicit IdempotencyKeys(queue::Store& store) : store_(store) {}

  // The state key of `user`'s `presented` key.
  static std::string key(std::string_view user, std::string_view presented);
  // The stored answer under `key`, if one younger than kKeepMs is there.
  std::optional<IdempotentAnswer> find(const std::string& key, int64_t now_ms);
  static std::string encode(const IdempotentAnswer& answer);
  static std::optional<IdempotentAnswer> decode(std::string_view value);

  // Marks `key` as being decided; false when it already is.
  bool begin(const std::string& key) { return in_flight_.insert(key).second; }
  void end(const std::string& key) { in_flight_.erase(key); }

  // Removes the records older than kKeepMs; how many.
  size_t sweep(int64_t now_ms);

 private:
  queue::Store& store_;
  std::unordered_set<std::string> in_flight_;
};

}  // namespace hato::relay
