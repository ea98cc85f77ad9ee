// user_limits.h - what one submitting user may send (limits.users, issue 22 item 2): messages
// and recipients per clock minute, hour and day, so a leaked application password sends
// hundreds of messages, not hundreds of thousands.
//
// Counts live in the state family (queue/state_keys.h, kind kUserQuota), one record per user,
// measure and window: u/<user>/<messages|recipients>/<window s>/<window start ms>, so they
// survive a restart. Windows are aligned to the clock in UTC (a day is a UTC day), so the
// refusal can say exactly when the limit resets. A message counts once it is queued; a
// transaction is refused at MAIL when the user's messages are used up, and at each RCPT that
// would go over its recipients. Loop thread only.
//
// In a cluster (set_shared) each window is also a counter in redis, reserved from before the
// transaction goes on and spent when the message is queued (policy/cluster.h), so that a
// user's messages through every node count against one quota; the node's own records stay
// as they are (what `used` reports).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "policy/hook.h"
#include "policy/limiter.h"

namespace hato::policy {

struct QuotaRefusal {
  std::string limit;  // "5/m messages"
  std::string text;   // the reply text, enhanced code first
  int64_t resets_ms = 0;
};

class UserLimits {
 public:
  explicit UserLimits(StateStore& state) : state_(state) {}
  void set_shared(SharedState* shared) { shared_ = shared; }

  // Whether `messages` more messages with `recipients` more recipients fit `user`'s quotas at
  // `now_ms` on this node; the first quota they would break, otherwise.
  std::optional<QuotaRefusal> check(const conf::Limits& limits, std::string_view user,
                                    uint64_t messages, uint64_t recipients, int64_t now_ms);
  // The same question, asked of the cluster when there is one: `done` may hear the answer
  // after a round trip to redis.
  using Checked = std::function<void(std::optional<QuotaRefusal>)>;
  void check_async(const conf::Limits& limits, const std::string& user, uint64_t messages,
                   uint64_t recipients, int64_t now_ms, Checked done);
  // One message of `user` with `recipients` recipients was queued.
  void count(const conf::Limits& limits, std::string_view user, uint64_t recipients,
             int64_t now_ms);
  // How much of `what` ("messages" or "recipients") `user` has used in `quota`'s window now.
  uint64_t used(std::string_view user, std::string_view what, const conf::Quota& quota,
                int64_t now_ms);

 private:
  std::string key(std::string_view user, std::string_view what, const conf::Quota& quota,
                  int64_t now_ms) const;
  void add(std::string_view user, std::string_view what, const conf::Quota& quota, uint64_t n,
           int64_t now_ms);
  struct Ask {
    std::string what;
    conf::Quota quota;
    uint64_t more = 0;
  };
  static std::vector<Ask> asks(const conf::Limits& limits, std::string_view user, uint64_t messages,
                               uint64_t recipients);
  void reserve_next(std::string user, std::vector<Ask> asks, size_t at, int64_t now_ms,
                    Checked done);

  StateStore& state_;
  SharedState* shared_ = nullptr;
  std::unordered_map<std::string, uint64_t> cache_;  // the current windows' counts, by key
};

// The quotas that apply to `user`: its own entry's, else default's, per measure.
const std::vector<conf::Quota>* user_quotas(const conf::Limits& limits, std::string_view user,
                                            std::string_view what);

// "5/m", "500/h", "2000/d".
std::string quota_text(const conf::Quota& quota);

// kMail and kRcpt on submission listeners, for authenticated users: 451 4.7.1 when the
// message or the recipient would go over a quota. `refused` hears each refusal (an event).
class UserQuotaHook : public Hook {
 public:
  using Refused = std::function<void(const HookContext&, const QuotaRefusal&)>;
  UserQuotaHook(UserLimits& limits, Phase phase, Refused refused)
      : limits_(limits), phase_(phase), refused_(std::move(refused)) {}
  const char* name() const override { return "user-quota"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;

 private:
  void refuse(const HookContext& context, const QuotaRefusal& refusal,
              const std::function<void(Verdict)>& done);
  UserLimits& limits_;
  Phase phase_;
  Refused refused_;
};

}  // namespace hato::policy
