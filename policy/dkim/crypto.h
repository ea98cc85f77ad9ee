// crypto.h - the two public-key operations of DKIM, on a SHA-256 digest of the signed header
// data (RFC 6376 3.7): RSASSA-PKCS1-v1_5 for rsa-sha256, and for ed25519-sha256 PureEdDSA over
// the 32-octet digest itself (RFC 8463 3). Private to policy/dkim.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "policy/dkim/key.h"

namespace hato::dkim {

Result<std::string> sign_digest(evp_pkey_st* pkey, Algorithm alg, std::string_view digest);
bool verify_digest(evp_pkey_st* pkey, Algorithm alg, std::string_view digest,
                   std::string_view signature);

}  // namespace hato::dkim
