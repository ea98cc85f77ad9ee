// daemon_brake.cc - the stolen-password brake's wiring (limits.brake, policy/user_brake.h):
// its hook at MAIL, the hold decision at commit, what it learns from queued mail and delivery
// results, the logins of frozen users, and what a freeze sends: one `frozen` event and one
// notice to the postmaster, through the queue as DSNs go.
#include <string>

#include "cli/daemon.h"
#include "common/log.h"
#include "policy/user_brake.h"
#include "relay/bounce.h"

namespace hato::cli {

namespace {

std::string first_domain(const conf::Config& config) {
  return config.domains.empty() ? config.hostname : config.domains.front().name;
}

std::string freeze_notice(const std::string& user, const std::string& reason,
                          const conf::Config& config) {
  std::string action = config.limits.brake.action == conf::BrakeAction::kRefuse
                           ? "refused at MAIL FROM with 451 4.7.1"
                           : "accepted and held (hato queue ls --state held)";
  return "The sending brake (limits.brake) has frozen the submitting user " + user + " on " +
         config.hostname + ".\n\nWhat was seen: " + reason +
         ".\n\nThis is how a leaked password usually looks. Until the user is released, its\n"
         "new mail is " +
         action +
         ", and its logins are logged with the client's address.\n\nIf the sending is "
         "legitimate, release the user and its held mail with:\n\n    hato user thaw " +
         user + "\n\nIf not, change the user's password first (hato user add " + user +
         "), and delete\nthe held mail (hato queue delete ID).\n";
}

}  // namespace

// add_user_brake - the hook that refuses (action refuse), the commit's hold (action hold), and
// the log line of a frozen user's login.
void Daemon::add_user_brake() {
  brake_.emplace(*state_);
  hooks_.add(policy::Phase::kMail, std::make_shared<policy::UserBrakeHook>(*brake_));
  enqueuer_->set_hold_rule([this](const queue::Envelope& envelope) -> std::string {
    if (envelope.auth_user.empty()) return "";
    auto freeze = brake_->frozen(envelope.auth_user);
    if (!freeze) return "";
    return "user " + envelope.auth_user + " is frozen by the sending brake since " +
           log::rfc3339(freeze->since_ms) + ": " + freeze->reason;
  });
  backend_->set_login_watch([this](const std::string& client, const std::string& user) {
    if (auto freeze = brake_->frozen(user)) {
      log::warning("login of a frozen user", {{"user", user},
                                              {"client", client},
                                              {"since", log::rfc3339(freeze->since_ms)},
                                              {"reason", freeze->reason}});
    }
  });
}

// connect_brake - what the brake learns: each submitted message once queued (and the envelope
// sender it came from), each delivery result of submitted mail, each complaint about it.
void Daemon::connect_brake() {
  enqueuer_->add_listener([this](const relay::Enqueuer::Queued& q) {
    if (q.origin != "submission" || q.events.empty()) return;
    const std::string& user = q.events.front().user;
    brake_->sent_as(user, q.events.front().sender);
    if (q.held) return;
    if (auto reason = brake_->queued(config_->limits.brake, user, q.recipients, log::now_ms()))
      brake_froze(user, *reason);
  });
  events_.subscribe([this](const queue::QueueEvent& e) {
    if (e.event == "complaint") {
      if (auto froze = brake_->complaint(config_->limits.brake, e.sender, log::now_ms()))
        brake_froze(froze->user, froze->reason);
      return;
    }
    if (e.user.empty() || (e.event != "delivered" && e.event != "bounced")) return;
    bool delivered = e.event == "delivered";
    bool hard = !delivered && policy::is_hard_bounce(e.category);
    if (auto reason = brake_->result(config_->limits.brake, e.user, delivered, hard, log::now_ms()))
      brake_froze(e.user, *reason);
  });
}

// brake_froze - the log line, then the notice to the postmaster with the `frozen` event: the
// event is written to the outbox with the notice, so webhooks get it as surely as `queue tail`.
void Daemon::brake_froze(const std::string& user, const std::string& reason) {
  const conf::Config& config = *config_;
  std::string postmaster = "postmaster@" + first_domain(config);
  log::warning("user frozen by the brake",
               {{"user", user}, {"reason", reason}, {"release", "hato user thaw " + user}});
  relay::NoticeInput notice;
  notice.from = "Mail System <MAILER-DAEMON@" + first_domain(config) + ">";
  notice.to = postmaster;
  notice.subject = "User " + user + " frozen by the sending brake";
  notice.body = freeze_notice(user, reason, config);
  relay::LocalMessage message;
  message.sender = "";  // a notice is never bounced
  message.recipient = postmaster;
  message.origin = "brake";
  message.build = [notice](const std::string& message_id, int64_t now_ms) {
    return relay::build_notice(notice, message_id, now_ms);
  };
  queue::QueueEvent frozen;
  frozen.time_ms = log::now_ms();
  frozen.event = "frozen";
  frozen.user = user;
  frozen.response = reason;
  message.events.push_back(std::move(frozen));
  queue::QueueId id = enqueuer_->queue_own(std::move(message), [](Status) {});
  log::info("brake notice", {{"id", id.str()}, {"to", postmaster}, {"user", user}});
}

}  // namespace hato::cli
