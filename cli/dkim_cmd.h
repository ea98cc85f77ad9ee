// dkim_cmd.h - `hato dkim keygen`: a new DKIM key and the DNS record that publishes it.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "policy/dkim/key.h"

namespace hato::cli {

// `args` follow the word "dkim":
//   keygen --domain D --selector S [--algorithm rsa-sha256|ed25519-sha256] [--bits N]
//          [--out FILE]
// Writes the private key (PEM, mode 0600, never over an existing file; default ./D.S.pem) and
// prints the TXT record for S._domainkey.D in zone-file form on stdout.
// Returns 0 done, 1 failed, 2 usage.
int dkim_command(const std::vector<std::string>& args);

// What `dkim keygen` does once its arguments are read: a new key written to `out` (PEM, mode
// 0600, never over an existing file), and the zone-file line of the TXT record that publishes
// it, made from the key as written. `hato init` makes its keys with it too.
[[nodiscard]] Result<std::string> new_dkim_key(const std::string& out, const std::string& domain,
                                               const std::string& selector, dkim::Algorithm alg,
                                               int bits = dkim::kDefaultRsaBits);

}  // namespace hato::cli
