// keyring.h - the signing keys of every configured domain, loaded once and
// swapped whole on SIGHUP. A domain signs with its first key of each
// algorithm (RSA and Ed25519 side by side); further keys of the same
// algorithm wait in the configuration for a rotation.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "conf/config.h"
#include "policy/dkim/signer.h"

namespace hato::dkim {

class Keyring {
 public:
  static Result<std::shared_ptr<const Keyring>> load(const conf::Config& config);
  // The signer for a header From domain, or null when we hold no key for it.
  const Signer* signer_for(std::string_view domain) const;
  size_t domains() const { return signers_.size(); }

 private:
  std::map<std::string, Signer, std::less<>> signers_;
};

}  // namespace hato::dkim
