// user_brake.h - the stolen-password brake (limits.brake, issue 22 item 3): a submitting user
// who suddenly sends far more than it normally does, or whose hard bounces jump, is frozen
// until an operator runs `hato user thaw NAME`.
//
// What is normal is learned per user: an exponentially weighted mean of its hourly messages
// and distinct recipients, each clock hour weighing 1/168 (a week of hours). This hour's count
// is read as a sliding hour (the previous hour's count weighted by the part of it still within
// the last 60 minutes), so a burst across the top of the hour is seen whole. A user is frozen
// when that count is over factor x its mean and over the floor (a new user, whose mean is 0,
// sending 10 is not frozen), or when its hard bounces (the address or the content refused)
// over the last day are at least min_bounces and more than bounce_rate of its results.
//
// The baseline and the freeze live in the state family (queue/state_keys.h, kind kUserBrake:
// v/<user>/activity, v/<user>/frozen) and survive a restart; the distinct recipients of the
// hour and the bounce counts are kept in memory (after a restart a recipient seen before
// counts again; bounces start afresh). Times are passed in: the tests run it on their clock.
// Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "policy/hook.h"
#include "policy/limiter.h"

namespace hato::policy {

// A user's sending as the brake sees it.
struct BrakeActivity {
  int64_t hour_start_ms = 0;  // the clock hour `messages` and `recipients` count
  uint64_t messages = 0;
  uint64_t recipients = 0;         // distinct
  uint64_t previous_messages = 0;  // the hour before
  uint64_t previous_recipients = 0;
  double base_messages = 0;  // the learned hourly means
  double base_recipients = 0;
};

struct BrakeFreeze {
  int64_t since_ms = 0;
  std::string reason;  // what was seen, in words
};

// The hard bounce categories (conf::kBounceCategories) the brake counts: the address does not
// exist or the content was refused, what mail sent with a stolen password meets.
bool is_hard_bounce(std::string_view category);

class UserBrake {
 public:
  static constexpr int64_t kHourMs = 3600 * 1000;
  static constexpr double kHoursLearned = 7 * 24;  // each hour weighs 1/168 of the mean

  explicit UserBrake(StateStore& state) : state_(state) {}

  // A message of `user` to `recipients` was queued at `now_ms`. When it takes the user over
  // the brake, the user is frozen (the record written) and the reason returned.
  std::optional<std::string> queued(const conf::Brake& brake, std::string_view user,
                                    const std::vector<std::string>& recipients, int64_t now_ms);
  // A delivery result of `user`'s mail: delivered, or bounced `hard` (is_hard_bounce) or not.
  // The reason when the bounces froze the user.
  std::optional<std::string> result(const conf::Brake& brake, std::string_view user, bool delivered,
                                    bool hard, int64_t now_ms);
  // A feedback-loop complaint about mail from envelope sender `sender`: it counts against the
  // user who last submitted mail from that address (sent_as). The user and the reason when
  // the complaints froze it.
  struct Froze {
    std::string user;
    std::string reason;
  };
  std::optional<Froze> complaint(const conf::Brake& brake, std::string_view sender, int64_t now_ms);
  // `user` submits mail from `sender` (lower case is applied here).
  void sent_as(std::string_view user, std::string_view sender);

  std::optional<BrakeFreeze> frozen(std::string_view user);
  // Every frozen user, by name.
  std::map<std::string, BrakeFreeze> frozen_users();
  // Clears `user`'s freeze and forgets the counts that led to it (its baseline stays);
  // false when it was not frozen.
  bool thaw(std::string_view user, int64_t now_ms);

  // The user's activity as of `now_ms` (hours gone by folded into the means).
  BrakeActivity activity(std::string_view user, int64_t now_ms);
  // Sets `user`'s learned hourly means, as after a week of such sending: a baseline known
  // from elsewhere (a migration), or a test's.
  void set_baseline(std::string_view user, double messages, double recipients, int64_t now_ms);

 private:
  struct Bounces {
    int64_t start_ms;
    uint64_t results = 0;
    uint64_t hard = 0;
    uint64_t delivered = 0;
    uint64_t complaints = 0;
  };
  // This hour's bucket of `user`, the buckets older than a day dropped.
  std::deque<Bounces>& buckets(std::string_view user, int64_t now_ms);
  struct Seen {
    int64_t hour_start_ms = 0;
    std::set<std::string> recipients;
  };
  void save(std::string_view user, const BrakeActivity& activity);
  std::optional<std::string> freeze(std::string_view user, std::string reason, int64_t now_ms);

  StateStore& state_;
  std::map<std::string, Seen, std::less<>> seen_;  // this hour's recipients, by user
  std::map<std::string, std::deque<Bounces>, std::less<>> bounces_;  // hourly, the last day
  std::map<std::string, std::string, std::less<>> senders_;          // envelope sender -> user
};

// Folds the hours from `activity.hour_start_ms` to the hour of `now_ms` into the means.
void roll_hours(BrakeActivity& activity, int64_t now_ms);
// This hour's messages or recipients as a sliding hour at `now_ms` (roll_hours first).
double sliding_hour(uint64_t current, uint64_t previous, int64_t hour_start_ms, int64_t now_ms);

// "100 messages in the last hour, 10 x its usual 2.5"
std::string describe_volume(std::string_view what, double count, double base, double factor);

// kMail on submission listeners, for authenticated users: with action refuse, 451 4.7.1 for a
// frozen user (with hold, the commit holds its mail: UserBrake::frozen).
class UserBrakeHook : public Hook {
 public:
  explicit UserBrakeHook(UserBrake& brake) : brake_(brake) {}
  const char* name() const override { return "user-brake"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;

 private:
  UserBrake& brake_;
};

}  // namespace hato::policy
