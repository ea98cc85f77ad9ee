// submission.cc - the access rules of submission listeners.
#include "policy/submission.h"

#include <sys/statvfs.h>

#include <algorithm>

#include "common/log.h"
#include "common/strings.h"
#include "policy/mail/message_header.h"

namespace hato::policy {

bool split_address(std::string_view address, std::string_view* local, std::string_view* domain) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return false;
  *local = address.substr(0, at);
  *domain = address.substr(at + 1);
  return true;
}

bool sender_allowed(const conf::Config& config, std::string_view user, std::string_view sender) {
  // The null sender: the bounces, delay notices and DSNs of an authenticated or trusted
  // client (a Postfix null client's own), which have no address to check (RFC 5321 4.5.5).
  if (sender.empty()) return true;
  std::string_view local, domain;
  if (!split_address(sender, &local, &domain)) return false;
  if (!config.find_domain(domain)) return false;
  if (user.empty()) return true;
  auto rules = config.allowed_senders.find(std::string(user));
  if (rules == config.allowed_senders.end()) return true;
  std::string address = ascii_lower(local) + "@" + ascii_lower(domain);
  std::string at_domain = "@" + ascii_lower(domain);
  for (const auto& rule : rules->second) {
    std::string r = ascii_lower(rule);
    if (r == address || r == at_domain) return true;
  }
  return false;
}

void SubmissionAccessHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  const auto& s = context.session;
  if (conf::submits(s.role) && s.auth_user.empty() && !s.trusted) {
    done(Verdict::reply(530, "5.7.0 Authentication required"));
    return;
  }
  done(Verdict::proceed());
}

void SenderPolicyHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  const auto& s = context.session;
  if (!conf::submits(s.role)) {
    done(Verdict::proceed());
    return;
  }
  if (!sender_allowed(context.config, s.auth_user, context.sender)) {
    std::string who = s.auth_user.empty() ? "this client" : "user " + s.auth_user;
    done(Verdict::reply(553,
                        "5.7.1 Sender address <" + context.sender + "> is not allowed for " + who));
    return;
  }
  done(Verdict::proceed());
}

void DiskSpaceHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  struct statvfs fs;
  if (statvfs(context.config.data_dir.c_str(), &fs) == 0) {
    uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    uint64_t needed = context.config.limits.max_message_size / 2 * 3;
    if (free_bytes < needed) {
      done(Verdict::reply(452, "4.3.1 Insufficient system storage, try again later"));
      return;
    }
  }
  done(Verdict::proceed());
}

void HeaderSyntaxHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  if (!conf::submits(context.session.role) || context.message == nullptr) {
    done(Verdict::proceed());
    return;
  }
  auto error = mail::check_header_section(*context.message);
  if (!error) {
    done(Verdict::proceed());
    return;
  }
  std::string why = error->describe();
  log::info("reject", {{"id", context.tx.queue_id},
                       {"peer", context.session.peer.to_string()},
                       {"listener", context.session.listener},
                       {"from", context.sender},
                       {"reason", why}});
  done(Verdict::reply(550, "5.6.0 Message " + why));
}

void add_submission_hooks(HookChain& chain) {
  chain.add(Phase::kMail, std::make_shared<DiskSpaceHook>());
  chain.add(Phase::kMail, std::make_shared<SubmissionAccessHook>());
  chain.add(Phase::kMail, std::make_shared<SenderPolicyHook>());
  chain.add(Phase::kData, std::make_shared<HeaderSyntaxHook>());
}

}  // namespace hato::policy
