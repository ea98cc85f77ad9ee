// connection_slots.h - how many connections a listener holds, in all and per client address,
// so one host cannot take every slot. The SMTP and the HTTP servers count with it.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

namespace hato::net {

struct SlotLimits {
  size_t total = 0;
  size_t per_client = 0;
};

class ConnectionSlots {
 public:
  enum class Refusal { kNone, kPerClient, kTotal };

  // Takes a slot for `ip` when both limits allow one; otherwise says which limit refused.
  [[nodiscard]] Refusal try_take(const std::string& ip, SlotLimits limits) {
    auto it = per_client_.find(ip);
    if (it != per_client_.end() && it->second >= limits.per_client) return Refusal::kPerClient;
    if (taken_ >= limits.total) return Refusal::kTotal;
    ++per_client_[ip];
    ++taken_;
    return Refusal::kNone;
  }
  void give_back(const std::string& ip) {
    auto it = per_client_.find(ip);
    if (it == per_client_.end()) return;
    if (--it->second == 0) per_client_.erase(it);
    --taken_;
  }
  size_t taken() const { return taken_; }
  size_t taken_by(const std::string& ip) const {
    auto it = per_client_.find(ip);
    return it == per_client_.end() ? 0 : it->second;
  }

 private:
  std::unordered_map<std::string, size_t> per_client_;
  size_t taken_ = 0;
};

}  // namespace hato::net
