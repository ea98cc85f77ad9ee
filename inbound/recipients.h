// recipients.h - which recipients an inbound (MX) listener accepts: only
// mailboxes and aliases of our own domains. Never an open relay.
#pragma once

#include <string_view>

#include "conf/config.h"
#include "policy/hook.h"

namespace hato::inbound {

enum class RecipientVerdict { kLocal, kUnknownUser, kNotOurDomain, kForbiddenForm };

// Classifies a recipient address for an inbound listener.
RecipientVerdict check_recipient(const conf::Config& config, std::string_view address);

class RecipientHook : public policy::Hook {
 public:
  const char* name() const override { return "inbound-recipient"; }
  void run(const policy::HookContext& context, std::function<void(policy::Verdict)> done) override;
};

}  // namespace hato::inbound
