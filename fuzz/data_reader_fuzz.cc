// data_reader_fuzz.cc - the DATA phase reader: end-of-data detection, dot
// unstuffing, limits; the place SMTP smuggling lives.
//
// Input: 1 byte for the size limit, 4 bytes seeding how the rest is split
// into reads (the lowest bit of the first also picks bare_lf: normalize or reject, of
// the second nul: allow or reject), then
// the bytes after "DATA\r\n". The invariants:
//   - the reader is done exactly when "\r\n" + input contains "\r\n.\r\n",
//     and then it has consumed exactly up to the end of the first one (the
//     DATA line's CRLF counts as the first CRLF): nothing else ends a
//     message, and the bytes after the end stay for the next command;
//   - any split of the input into reads gives the same result as one read
//     once the message has ended;
//   - an accepted body (no flag raised) is the consumed bytes, lines ending in
//     a bare LF given CRLF (normalize), unstuffed (a lone "." stays), and has
//     no bare CR or LF, and no NUL unless NULs are allowed;
//   - a refused message keeps no body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "relay/data_reader.h"

using namespace hato;
using hato::relay::DataReader;

namespace {

struct Outcome {
  size_t used = 0;
  bool done = false, bare = false, nul = false, too_long = false, too_big = false;
  uint64_t received = 0;
  std::string body;
  bool operator==(const Outcome&) const = default;
};

Outcome one_read(uint64_t limit, conf::BareLf mode, conf::Nul nul, std::string_view in) {
  Outcome o;
  DataReader r(limit, &o.body, mode, nul);
  o.used = r.consume(in);
  o.done = r.done();
  o.bare = r.bare_newline();
  o.nul = r.nul();
  o.too_long = r.line_too_long();
  o.too_big = r.too_big();
  o.received = r.received();
  return o;
}

Outcome split_reads(uint64_t limit, conf::BareLf mode, conf::Nul nul, std::string_view in,
                    uint32_t seed) {
  Outcome o;
  DataReader r(limit, &o.body, mode, nul);
  uint32_t x = seed | 1;
  size_t pos = 0;
  while (pos < in.size() && !r.done()) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    // Mostly tiny reads (1-8 bytes), now and then a big one.
    size_t n = (x & 7) == 0 ? 1 + (x >> 3) % 2048 : 1 + (x >> 3) % 8;
    size_t used = r.consume(in.substr(pos, n));
    FUZZ_CHECK(used <= n, "consumed more than it was given");
    FUZZ_CHECK(r.done() || used == std::min(n, in.size() - pos), "left bytes before the end");
    pos += used;
  }
  o.used = pos;
  o.done = r.done();
  o.bare = r.bare_newline();
  o.nul = r.nul();
  o.too_long = r.line_too_long();
  o.too_big = r.too_big();
  o.received = r.received();
  return o;
}

// What the body must be: the lines before the final dot (a bare LF counting as
// a line end, which only an accepted normalize body can hold), each without one
// leading dot unless it is a lone ".", CRLF-terminated.
std::string unstuffed(std::string_view consumed) {
  std::string out;
  std::string_view rest = consumed.substr(0, consumed.size() - 3);  // ".\r\n"
  while (!rest.empty()) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > 1 && line.front() == '.') line.remove_prefix(1);
    out.append(line);
    out.append("\r\n");
    rest.remove_prefix(eol + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  // 0 means the default-ish 50M; small limits exercise too_big.
  uint64_t limit = data[0] == 0 ? 50u << 20 : uint64_t(data[0]) * 16;
  uint32_t seed = uint32_t(data[1]) | uint32_t(data[2]) << 8 | uint32_t(data[3]) << 16 |
                  uint32_t(data[4]) << 24;
  auto mode = (data[1] & 1) ? conf::BareLf::kNormalize : conf::BareLf::kReject;
  auto nul = (data[2] & 1) ? conf::Nul::kAllow : conf::Nul::kReject;
  std::string_view in(reinterpret_cast<const char*>(data) + 5, size - 5);

  Outcome whole = one_read(limit, mode, nul, in);
  std::string framed = "\r\n" + std::string(in);
  size_t end = framed.find("\r\n.\r\n");
  if (end == std::string::npos) {
    FUZZ_CHECK(!whole.done, "done without <CRLF>.<CRLF>");
    FUZZ_CHECK(whole.used == in.size(), "bytes left over before the end");
  } else {
    FUZZ_CHECK(whole.done, "<CRLF>.<CRLF> did not end the message");
    FUZZ_CHECK(whole.used == end + 5 - 2, "did not stop right after the first <CRLF>.<CRLF>");
  }
  FUZZ_CHECK(whole.received == whole.used, "received() differs from what was consumed");

  Outcome pieces = split_reads(limit, mode, nul, in, seed);
  if (!(pieces == whole)) {
    std::fprintf(
        stderr,
        "one read:    used %zu done %d bare %d too_long %d too_big %d received %llu body %zu\n"
        "split reads: used %zu done %d bare %d too_long %d too_big %d received %llu body %zu\n",
        whole.used, whole.done, whole.bare, whole.too_long, whole.too_big,
        (unsigned long long)whole.received, whole.body.size(), pieces.used, pieces.done,
        pieces.bare, pieces.too_long, pieces.too_big, (unsigned long long)pieces.received,
        pieces.body.size());
  }
  // Before the end the flags may still be on their way (an over-long line is
  // looked at when it ends); at the end everything must agree.
  if (whole.done) {
    FUZZ_CHECK(pieces == whole, "split reads differ from one read");
  } else {
    FUZZ_CHECK(!pieces.done && pieces.used == whole.used && pieces.received == whole.received,
               "split reads differ from one read");
  }

  if (whole.bare || whole.nul || whole.too_long || whole.too_big) {
    FUZZ_CHECK(whole.body.empty(), "a refused message kept its body");
  } else if (whole.done) {
    FUZZ_CHECK(whole.body == unstuffed(in.substr(0, whole.used)), "body is not the unstuffed data");
    FUZZ_CHECK(fuzz::crlf_clean(whole.body), "accepted body with a bare CR or LF");
    FUZZ_CHECK(whole.body.size() <= limit, "accepted body over the limit");
    FUZZ_CHECK(nul == conf::Nul::kAllow || whole.body.find('\0') == std::string::npos,
               "accepted body with a NUL where NULs are refused");
  }
  return 0;
}
