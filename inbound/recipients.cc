// recipients.cc - the inbound recipient check.
#include "inbound/recipients.h"

#include <algorithm>

#include "common/strings.h"
#include "policy/submission.h"

namespace hato::inbound {

RecipientVerdict check_recipient(const conf::Config& config, std::string_view address) {
  std::string_view local, domain;
  if (!policy::split_address(address, &local, &domain)) return RecipientVerdict::kForbiddenForm;
  // Routing tricks (%-hack, bang paths, quoted local parts hiding an '@') are
  // refused outright: a relay that never interprets them cannot be fooled by them.
  if (local.find_first_of("%!@\"") != std::string_view::npos)
    return RecipientVerdict::kForbiddenForm;
  const conf::Domain* d = config.find_domain(domain);
  if (!d) return RecipientVerdict::kNotOurDomain;
  std::string box = ascii_lower(local);
  auto plus = box.find('+');  // subaddress: support+tag@ goes to support@
  std::string base = plus == std::string::npos ? box : box.substr(0, plus);
  for (const auto& name : {box, base}) {
    if (std::find(d->mailboxes.begin(), d->mailboxes.end(), name) != d->mailboxes.end())
      return RecipientVerdict::kLocal;
    if (d->aliases.count(name)) return RecipientVerdict::kLocal;
  }
  return RecipientVerdict::kUnknownUser;
}

void RecipientHook::run(const policy::HookContext& context,
                        std::function<void(policy::Verdict)> done) {
  if (context.session.role != conf::ListenerRole::kInbound) {
    done(policy::Verdict::proceed());
    return;
  }
  switch (check_recipient(context.config, context.recipient)) {
    case RecipientVerdict::kLocal:
      done(policy::Verdict::proceed());
      return;
    case RecipientVerdict::kUnknownUser:
      done(policy::Verdict::reply(
          550, "5.1.1 <" + context.recipient + ">: Recipient address rejected: no such user here"));
      return;
    case RecipientVerdict::kNotOurDomain:
    case RecipientVerdict::kForbiddenForm:
      done(policy::Verdict::reply(554, "5.7.1 <" + context.recipient + ">: Relay access denied"));
      return;
  }
}

}  // namespace hato::inbound
