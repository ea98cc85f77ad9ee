// user_brake.cc - learned hourly baselines, the freeze and the thaw (user_brake.h).
#include "policy/user_brake.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "common/log.h"
#include "common/strings.h"
#include "queue/state_keys.h"

namespace hato::policy {

namespace {

constexpr int64_t kBounceWindowHours = 24;
// Beyond this many hours without mail the means are as good as zero: no longer loop.
constexpr int64_t kMaxFoldHours = 20 * 24 * 7;
// Distinct recipients remembered per user and hour, so one user cannot take all memory.
constexpr size_t kMaxSeenRecipients = 100000;
constexpr size_t kMaxSenders = 100000;  // envelope senders remembered for complaints

std::string activity_key(std::string_view user) {
  return queue::state::user_brake_key(queue::state::escape_field(user), "activity");
}

std::string frozen_key(std::string_view user) {
  return queue::state::user_brake_key(queue::state::escape_field(user), "frozen");
}

int64_t hour_of(int64_t ms) {
  return ms - ms % UserBrake::kHourMs;
}

std::string number(double value) {
  char out[32];
  std::snprintf(out, sizeof out, "%.4g", value);
  return out;
}

std::optional<BrakeFreeze> parse_freeze(std::string_view text) {
  BrakeFreeze f;
  size_t space = text.find(' ');
  std::istringstream in(std::string(text.substr(0, space)));
  if (!(in >> f.since_ms)) return std::nullopt;
  if (space != std::string_view::npos) f.reason = std::string(text.substr(space + 1));
  return f;
}

}  // namespace

bool is_hard_bounce(std::string_view category) {
  return category == "invalid-recipient" || category == "bad-domain" ||
         category == "spam-content" || category == "reputation-block";
}

void roll_hours(BrakeActivity& a, int64_t now_ms) {
  int64_t now_hour = hour_of(now_ms);
  if (a.hour_start_ms == 0) a.hour_start_ms = now_hour;
  if (now_hour <= a.hour_start_ms) return;
  int64_t hours =
      std::min<int64_t>((now_hour - a.hour_start_ms) / UserBrake::kHourMs, kMaxFoldHours);
  double keep = 1.0 - 1.0 / UserBrake::kHoursLearned;
  // The hour that ended counts with its weight; each empty hour after it, as a zero.
  a.base_messages = a.base_messages * keep + static_cast<double>(a.messages) * (1 - keep);
  a.base_recipients = a.base_recipients * keep + static_cast<double>(a.recipients) * (1 - keep);
  double empty = std::pow(keep, static_cast<double>(hours - 1));
  a.base_messages *= empty;
  a.base_recipients *= empty;
  a.previous_messages = hours == 1 ? a.messages : 0;
  a.previous_recipients = hours == 1 ? a.recipients : 0;
  a.messages = a.recipients = 0;
  a.hour_start_ms = now_hour;
}

double sliding_hour(uint64_t current, uint64_t previous, int64_t hour_start_ms, int64_t now_ms) {
  double into =
      static_cast<double>(std::clamp<int64_t>(now_ms - hour_start_ms, 0, UserBrake::kHourMs)) /
      UserBrake::kHourMs;
  return static_cast<double>(current) + static_cast<double>(previous) * (1.0 - into);
}

std::string describe_volume(std::string_view what, double count, double base, double factor) {
  return number(count) + " " + std::string(what) + " in the last hour, over " + number(factor) +
         " x its usual " + number(base) + " an hour";
}

BrakeActivity UserBrake::activity(std::string_view user, int64_t now_ms) {
  BrakeActivity a;
  if (auto stored = state_.get(activity_key(user))) {
    std::istringstream in(*stored);
    if (!(in >> a.hour_start_ms >> a.messages >> a.recipients >> a.previous_messages >>
          a.previous_recipients >> a.base_messages >> a.base_recipients))
      a = BrakeActivity{};  // unreadable: learned afresh
  }
  roll_hours(a, now_ms);
  return a;
}

void UserBrake::save(std::string_view user, const BrakeActivity& a) {
  std::ostringstream out;
  out.precision(17);
  out << a.hour_start_ms << ' ' << a.messages << ' ' << a.recipients << ' ' << a.previous_messages
      << ' ' << a.previous_recipients << ' ' << a.base_messages << ' ' << a.base_recipients;
  state_.put(activity_key(user), out.str());
}

void UserBrake::set_baseline(std::string_view user, double messages, double recipients,
                             int64_t now_ms) {
  BrakeActivity a = activity(user, now_ms);
  a.base_messages = messages;
  a.base_recipients = recipients;
  save(user, a);
}

std::optional<std::string> UserBrake::queued(const conf::Brake& brake, std::string_view user,
                                             const std::vector<std::string>& recipients,
                                             int64_t now_ms) {
  if (user.empty() || frozen(user)) return std::nullopt;
  BrakeActivity a = activity(user, now_ms);
  Seen& seen = seen_[std::string(user)];
  if (seen.hour_start_ms != a.hour_start_ms) seen = Seen{a.hour_start_ms, {}};
  ++a.messages;
  for (const auto& r : recipients) {
    // Beyond the cap every recipient counts as new: an over-count, the safe side for a brake.
    if (seen.recipients.size() >= kMaxSeenRecipients || seen.recipients.insert(r).second)
      ++a.recipients;
  }
  save(user, a);
  if (!brake.enabled) return std::nullopt;
  double floor = static_cast<double>(brake.floor);
  double messages = sliding_hour(a.messages, a.previous_messages, a.hour_start_ms, now_ms);
  if (messages > floor && messages > brake.factor * a.base_messages)
    return freeze(user, describe_volume("messages", messages, a.base_messages, brake.factor),
                  now_ms);
  double rcpts = sliding_hour(a.recipients, a.previous_recipients, a.hour_start_ms, now_ms);
  if (rcpts > floor && rcpts > brake.factor * a.base_recipients)
    return freeze(user,
                  describe_volume("distinct recipients", rcpts, a.base_recipients, brake.factor),
                  now_ms);
  return std::nullopt;
}

std::optional<std::string> UserBrake::result(const conf::Brake& brake, std::string_view user,
                                             bool delivered, bool hard, int64_t now_ms) {
  if (user.empty() || (!delivered && !hard)) return std::nullopt;
  auto& hours = buckets(user, now_ms);
  ++hours.back().results;
  if (hard) ++hours.back().hard;
  if (delivered) ++hours.back().delivered;
  if (!brake.enabled || !hard || frozen(user)) return std::nullopt;
  uint64_t results = 0, bounced = 0;
  for (const auto& b : hours) {
    results += b.results;
    bounced += b.hard;
  }
  double rate = static_cast<double>(bounced) / static_cast<double>(results);
  if (bounced < brake.min_bounces || rate <= brake.bounce_rate) return std::nullopt;
  return freeze(user,
                std::to_string(bounced) + " hard bounces in " + std::to_string(results) +
                    " delivery results over the last day (" + number(rate * 100) +
                    "%, over the limit of " + number(brake.bounce_rate * 100) + "%)",
                now_ms);
}

std::deque<UserBrake::Bounces>& UserBrake::buckets(std::string_view user, int64_t now_ms) {
  auto& hours = bounces_[std::string(user)];
  int64_t hour = hour_of(now_ms);
  while (!hours.empty() && hours.front().start_ms <= hour - kBounceWindowHours * kHourMs)
    hours.pop_front();
  if (hours.empty() || hours.back().start_ms != hour) hours.push_back({hour});
  return hours;
}

void UserBrake::sent_as(std::string_view user, std::string_view sender) {
  if (user.empty() || sender.empty()) return;
  // Bounded: past the cap the oldest-named entries are not kept apart from new ones; a sender
  // not found only means a complaint that counts against nobody.
  std::string key = ascii_lower(sender);
  if (senders_.size() >= kMaxSenders && !senders_.count(key)) senders_.clear();
  senders_[key] = std::string(user);
}

std::optional<UserBrake::Froze> UserBrake::complaint(const conf::Brake& brake,
                                                     std::string_view sender, int64_t now_ms) {
  auto it = senders_.find(ascii_lower(sender));
  if (it == senders_.end()) return std::nullopt;
  const std::string user = it->second;
  auto& hours = buckets(user, now_ms);
  ++hours.back().complaints;
  if (!brake.enabled || frozen(user)) return std::nullopt;
  uint64_t delivered = 0, complaints = 0;
  for (const auto& b : hours) {
    delivered += b.delivered;
    complaints += b.complaints;
  }
  // Complaints come in after the deliveries they are about; none counted (a restart) is one.
  double rate =
      static_cast<double>(complaints) / static_cast<double>(std::max<uint64_t>(1, delivered));
  if (complaints < brake.min_complaints || rate <= brake.complaint_rate) return std::nullopt;
  auto reason =
      freeze(user,
             std::to_string(complaints) + " spam complaints about " + std::to_string(delivered) +
                 " delivered messages over the last day (" + number(rate * 100) +
                 "%, over the limit of " + number(brake.complaint_rate * 100) + "%)",
             now_ms);
  return Froze{user, *reason};
}

std::optional<std::string> UserBrake::freeze(std::string_view user, std::string reason,
                                             int64_t now_ms) {
  state_.put(frozen_key(user), std::to_string(now_ms) + " " + reason);
  return reason;
}

std::optional<BrakeFreeze> UserBrake::frozen(std::string_view user) {
  auto stored = state_.get(frozen_key(user));
  if (!stored) return std::nullopt;
  return parse_freeze(*stored);
}

std::map<std::string, BrakeFreeze> UserBrake::frozen_users() {
  std::map<std::string, BrakeFreeze> out;
  std::string prefix(queue::state::prefix(queue::state::Kind::kUserBrake));
  Status s = state_.scan(prefix, [&](std::string_view key, std::string_view value) {
    auto parsed = queue::state::parse_key(key);
    if (parsed && parsed->fields.size() == 2 && parsed->fields[1] == "frozen") {
      if (auto f = parse_freeze(value))
        out.emplace(queue::state::unescape_field(parsed->fields[0]), std::move(*f));
    }
    return true;
  });
  if (!s) log::warning("cannot list frozen users", {{"reason", s.message()}});
  return out;
}

bool UserBrake::thaw(std::string_view user, int64_t now_ms) {
  if (!frozen(user)) return false;
  state_.erase(frozen_key(user));
  // The burst that froze it is forgiven, not learned: otherwise the next message freezes it
  // again, and a week of baseline would grow from one bad hour.
  BrakeActivity a = activity(user, now_ms);
  a.messages = a.recipients = a.previous_messages = a.previous_recipients = 0;
  save(user, a);
  seen_.erase(std::string(user));
  bounces_.erase(std::string(user));
  return true;
}

void UserBrakeHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  const auto& s = context.session;
  const conf::Brake& brake = context.config.limits.brake;
  if (!conf::submits(s.role) || s.auth_user.empty() || brake.action != conf::BrakeAction::kRefuse) {
    return done(Verdict::proceed());
  }
  auto freeze = brake_.frozen(s.auth_user);
  if (!freeze) return done(Verdict::proceed());
  log::warning("mail of a frozen user refused", {{"user", s.auth_user},
                                                 {"peer", s.peer.to_string()},
                                                 {"listener", s.listener},
                                                 {"from", context.sender},
                                                 {"since", log::rfc3339(freeze->since_ms)},
                                                 {"reason", freeze->reason}});
  done(Verdict::reply(451, "4.7.1 user " + s.auth_user +
                               " is frozen by the sending brake (unusual sending was seen); "
                               "the postmaster has been told"));
}

}  // namespace hato::policy
