// idempotency.cc - Idempotency-Key records: "<created ms> <fingerprint> <status> <body>".
#include "relay/idempotency.h"

#include <vector>

#include "common/log.h"
#include "policy/api_keys.h"
#include "queue/state_keys.h"

namespace hato::relay {

std::string IdempotencyKeys::key(std::string_view user, std::string_view presented) {
  return queue::state::idempotency_key(queue::state::escape_field(user),
                                       policy::sha256_hex(presented));
}

std::string IdempotencyKeys::encode(const IdempotentAnswer& a) {
  return std::to_string(a.created_ms) + " " + a.fingerprint + " " + std::to_string(a.status) + " " +
         a.body;
}

std::optional<IdempotentAnswer> IdempotencyKeys::decode(std::string_view value) {
  IdempotentAnswer a;
  size_t one = value.find(' ');
  size_t two = one == std::string_view::npos ? one : value.find(' ', one + 1);
  size_t three = two == std::string_view::npos ? two : value.find(' ', two + 1);
  if (three == std::string_view::npos) return std::nullopt;
  try {
    a.created_ms = std::stoll(std::string(value.substr(0, one)));
    a.status = std::stoi(std::string(value.substr(two + 1, three - two - 1)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  a.fingerprint = value.substr(one + 1, two - one - 1);
  a.body = value.substr(three + 1);
  return a;
}

std::optional<IdempotentAnswer> IdempotencyKeys::find(const std::string& key, int64_t now_ms) {
  auto stored = store_.get_state(key);
  if (!stored) {
    log::warning("idempotency record unreadable", {{"key", key}, {"reason", stored.message()}});
    return std::nullopt;
  }
  if (!*stored) return std::nullopt;
  auto answer = decode(**stored);
  if (!answer || now_ms - answer->created_ms >= kKeepMs) return std::nullopt;
  return answer;
}

size_t IdempotencyKeys::sweep(int64_t now_ms) {
  std::vector<std::string> old;
  Status s = store_.scan_state(queue::state::prefix(queue::state::Kind::kIdempotency),
                               [&](std::string_view key, std::string_view value) {
                                 auto answer = decode(value);
                                 if (!answer || now_ms - answer->created_ms >= kKeepMs)
                                   old.emplace_back(key);
                                 return true;
                               });
  if (!s) log::warning("idempotency sweep failed", {{"reason", s.message()}});
  for (const auto& key : old) {
    if (Status e = store_.erase_state(key); !e)
      log::warning("idempotency sweep failed", {{"key", key}, {"reason", e.message()}});
  }
  return old.size();
}

}  // namespace hato::relay
