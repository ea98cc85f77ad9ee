// submission.h - who may send through a submission listener, and as whom.
#pragma once

#include <string_view>

#include "conf/config.h"
#include "policy/hook.h"

namespace hato::policy {

// MAIL on a submission listener needs AUTH, unless the peer is trusted.
class SubmissionAccessHook : public Hook {
 public:
  const char* name() const override { return "submission-access"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;
};

// The sender must be an address of a configured domain, narrowed per user by
// `allowed_senders`, or the null sender.
class SenderPolicyHook : public Hook {
 public:
  const char* name() const override { return "sender-policy"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;
};

// Whether `user` (empty: not authenticated) may use `sender` as MAIL FROM.
bool sender_allowed(const conf::Config& config, std::string_view user, std::string_view sender);

// Splits "local@domain" at the last '@'; false when there is none.
bool split_address(std::string_view address, std::string_view* local, std::string_view* domain);

// Refuses new mail with 452 4.3.1 while the queue's file system has less
// room than 1.5 times the largest message we accept (Postfix's queue_minfree
// rule), so a full disk slows senders down instead of failing commits.
class DiskSpaceHook : public Hook {
 public:
  const char* name() const override { return "disk-space"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;
};

// At the end of DATA on a submission listener: 550 5.6.0 for a header section that is not
// made of header fields (mail/message_header.h), naming the line. We would sign it, and no
// verifier reads such a header as we do. Inbound mail is not checked: not ours to refuse.
class HeaderSyntaxHook : public Hook {
 public:
  const char* name() const override { return "header-syntax"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;
};

void add_submission_hooks(HookChain& chain);

}  // namespace hato::policy
