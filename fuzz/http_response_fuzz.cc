// http_response_fuzz.cc - what a web server on the internet sends back: HTTP/1.1 responses
// (MTA-STS policy hosts, webhooks, ACME) read by net::HttpResponseParser in arbitrary
// slices, and MTA-STS policy files (RFC 8461 3.2) as such a server serves them.
//
// Invariants: the first input byte splits the rest into two feeds, and a complete response
// never holds more body than its cap; a parsed policy survives the cache encoding unchanged
// and max_age stays within RFC 8461's limit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "net/http_client.h"
#include "policy/mta_sts.h"

using namespace hato;
namespace sts = hato::policy::mta_sts;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr size_t kCap = 4096;
  net::HttpResponseParser parser(kCap);
  size_t cut = std::min<size_t>(data[0], all.size());
  bool ok = parser.feed(all.substr(0, cut)).is_ok() && parser.feed(all.substr(cut)).is_ok();
  if (ok && !parser.complete()) ok = parser.finish().is_ok();
  if (ok && parser.complete()) {
    FUZZ_CHECK(parser.response().body.size() <= kCap, "body over the cap");
    FUZZ_CHECK(parser.response().status >= 100 && parser.response().status <= 999, "status");
  }

  auto policy = sts::parse_policy(all);
  if (!policy) return 0;
  FUZZ_CHECK(policy->max_age <= sts::kMaxAge, "max_age over RFC 8461's limit");
  policy->id = "fuzz";
  policy->fetched_ms = 1;
  auto back = sts::decode_cached(sts::encode_cached(*policy));
  FUZZ_CHECK(back.has_value(), "a cached policy does not read back");
  FUZZ_CHECK(back->mode == policy->mode && back->mx == policy->mx &&
                 back->max_age == policy->max_age && back->id == policy->id,
             "the cache changed the policy");
  return 0;
}
