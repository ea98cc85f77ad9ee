// keyring.cc - loading the configured DKIM keys.
#include "policy/dkim/keyring.h"

#include <algorithm>
#include <set>

#include "common/strings.h"

namespace hato::dkim {

Result<std::shared_ptr<const Keyring>> Keyring::load(const conf::Config& config) {
  using R = Result<std::shared_ptr<const Keyring>>;
  auto ring = std::make_shared<Keyring>();
  for (const auto& domain : config.domains) {
    std::vector<DkimKey> keys;
    std::set<Algorithm> seen;
    for (const auto& k : domain.dkim) {
      auto alg = parse_algorithm(k.algorithm);
      if (!alg)
        return R::error("domain " + domain.name + ": unknown DKIM algorithm " + k.algorithm);
      if (!seen.insert(*alg).second) continue;
      auto key = load_key(k.key_file, domain.name, k.selector, *alg);
      if (!key)
        return R::error("domain " + domain.name + " selector " + k.selector + ": " + key.message());
      keys.push_back(std::move(key.value()));
    }
    if (!keys.empty()) ring->signers_.emplace(domain.name, Signer(std::move(keys)));
  }
  return std::shared_ptr<const Keyring>(ring);
}

const Signer* Keyring::signer_for(std::string_view domain) const {
  auto it = signers_.find(ascii_lower(domain));
  return it == signers_.end() ? nullptr : &it->second;
}

}  // namespace hato::dkim
