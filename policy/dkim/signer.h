// signer.h - DKIM signing (RFC 6376, RFC 8463): one DKIM-Signature field per key, so a domain
// can sign with RSA and Ed25519 side by side.
//
//   auto key = dkim::load_key("/etc/hato/dkim/example.test.s1.pem", "example.test", "s1",
//                             dkim::Algorithm::kRsaSha256);
//   dkim::Signer signer({*key});
//   auto fields = signer.sign(message, time(nullptr));   // prepend *fields to the message
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/dkim/canon.h"
#include "policy/dkim/key.h"

namespace hato::dkim {

// The header fields signed when present (each instance), RFC 6376 5.4.1's usual set plus the
// list headers RFC 8058 wants signed.
const std::vector<std::string>& default_signed_headers();
// Listed once more than they occur, so that none can be added after signing.
const std::vector<std::string>& default_oversigned_headers();

struct SignerOptions {
  Canon header_canon = Canon::kRelaxed;
  Canon body_canon = Canon::kRelaxed;
  std::vector<std::string> headers = default_signed_headers();
  std::vector<std::string> oversign = default_oversigned_headers();
};

class Signer {
 public:
  explicit Signer(std::vector<DkimKey> keys, SignerOptions options = {});

  // The DKIM-Signature fields for `message` (CRLF text: header fields, an empty line, the body),
  // one per key in key order, each folded and CRLF-terminated, to be put on top of the message
  // unchanged. `now` is t= (Unix seconds). Fails without keys, or when the message has not
  // exactly one From field (RFC 6376 5.4 requires it signed; two would defeat DMARC).
  // Safe to call on many threads at once.
  Result<std::string> sign(std::string_view message, int64_t now) const;

  const std::vector<DkimKey>& keys() const { return keys_; }

 private:
  std::vector<DkimKey> keys_;
  SignerOptions options_;
};

// The domain of the header From's first address (lowercase, no trailing dot), to pick the keys
// that align with DMARC; the address list is parsed by mail::parse_address_list(). Empty when
// there is not exactly one From field or it has no usable domain (a domain literal, say).
std::string from_domain(std::string_view message);

}  // namespace hato::dkim
