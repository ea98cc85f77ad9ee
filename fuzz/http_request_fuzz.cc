// http_request_fuzz.cc - what any client on the internet may send Hato's web listeners:
// HTTP/1.x requests read by net::HttpRequestParser in arbitrary slices.
//
// Invariants: the first input byte splits the rest into two feeds; a parser never consumes
// more than it is given; a complete request never holds more body than its cap nor more
// header fields than allowed; a refusal is one of the statuses the parser documents.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "net/http_request_parser.h"

using namespace hato;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

namespace {

void check_status(int status) {
  switch (status) {
    case 0:
    case 200:
    case 400:
    case 405:
    case 411:
    case 413:
    case 431:
    case 501:
    case 505:
      return;
    default:
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t split = data[0] % (all.size() + 1);
  net::HttpParseLimits limits;
  limits.max_head = 512;
  limits.max_headers = 8;
  limits.max_body = 256;
  net::HttpRequestParser parser(limits);
  std::string_view parts[] = {all.substr(0, split), all.substr(split)};
  for (std::string_view part : parts) {
    while (!part.empty()) {
      size_t used = 0;
      int status = parser.feed(part, &used);
      check_status(status);
      if (used > part.size()) std::abort();
      if (status == 200) {
        if (parser.request().body.size() > limits.max_body) std::abort();
        if (parser.request().headers.size() > limits.max_headers) std::abort();
        parser.reset();
      } else if (status != 0) {
        return 0;
      } else if (used == 0) {
        std::abort();  // more was needed, yet nothing was taken
      }
      part.remove_prefix(used);
    }
  }
  return 0;
}
