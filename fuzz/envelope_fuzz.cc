// envelope_fuzz.cc - the queue's envelope record: decode() on garbage (a torn
// or corrupted record must be refused, never crash), and encode/decode round
// trips of envelopes built from the input.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "queue/envelope.h"

using namespace hato;
using namespace hato::queue;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = decode(bytes);
  if (decoded) {
    std::string again = encode(*decoded);
    auto twice = decode(again);
    FUZZ_CHECK(twice.is_ok(), "re-encoded envelope does not decode");
    FUZZ_CHECK(*twice == *decoded, "decode(encode(e)) != e");
    FUZZ_CHECK(encode(*twice) == again, "encoding is not stable");
    // Every proper prefix of a valid record is refused: a torn write is not an envelope.
    for (size_t cut : {size_t(0), again.size() / 2, again.size() - 1})
      if (cut < again.size())
        FUZZ_CHECK(!decode(std::string_view(again).substr(0, cut)), "a truncated envelope decoded");
  }

  FuzzedDataProvider in(data, size);
  Envelope e;
  e.sender = in.ConsumeRandomLengthString(300);
  size_t n = in.ConsumeIntegralInRange<size_t>(0, 5);
  for (size_t i = 0; i < n; ++i) {
    Recipient r;
    r.address = in.ConsumeRandomLengthString(300);
    r.orcpt = in.ConsumeRandomLengthString(100);
    r.notify = in.ConsumeIntegral<uint8_t>() & 15;
    r.state = static_cast<RcptState>(in.ConsumeIntegralInRange<int>(0, 3));
    size_t attempts = in.ConsumeIntegralInRange<size_t>(0, 3);
    for (size_t j = 0; j < attempts; ++j)
      r.attempts.push_back({in.ConsumeIntegral<int64_t>(), in.ConsumeRandomLengthString(100),
                            in.ConsumeRandomLengthString(300), in.ConsumeRandomLengthString(20),
                            in.ConsumeRandomLengthString(20), in.ConsumeRandomLengthString(40)});
    e.recipients.push_back(std::move(r));
  }
  e.created_ms = in.ConsumeIntegral<int64_t>();
  e.next_attempt_ms = in.ConsumeIntegral<int64_t>();
  e.state = static_cast<MessageState>(in.ConsumeIntegralInRange<int>(0, 2));
  e.size = in.ConsumeIntegral<uint64_t>();
  e.ret = in.PickValueInArray({"", "FULL", "HDRS"});
  e.envid = in.ConsumeRandomLengthString(100);
  e.smtputf8 = in.ConsumeBool();
  e.eight_bit = in.ConsumeBool();
  e.delay_warned = in.ConsumeBool();
  e.auth_user = in.ConsumeRandomLengthString(64);
  e.client = in.ConsumeRandomLengthString(300);
  e.listener = in.ConsumeRandomLengthString(32);
  e.folder = in.ConsumeRandomLengthString(32);
  std::string encoded = encode(e);
  auto back = decode(encoded);
  FUZZ_CHECK(back.is_ok(), "an encoded envelope does not decode");
  FUZZ_CHECK(*back == e, "round trip changed the envelope");
  return 0;
}
