// load_mix.h - the messages smtpload_tls sends: a size distribution ("4096:60,40960:30,
// 409600:10") and, for each size, one MIME body built once and sent by reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// One size of the mix. `body` runs from the first MIME header line (the per-message
// headers come before it) to the end of the message, dot-stuffing not needed, then
// ".\r\n".
struct SizeClass {
  size_t size = 0;  // what the whole message aims at, headers included
  double weight = 0;
  std::string body;
  unsigned long sent = 0;
};

// parse_mix - "SIZE:WEIGHT,..." (SIZE in bytes, or with k/K for KiB); empty on bad input.
std::vector<SizeClass> parse_mix(const std::string& text);

// build_bodies - fills each class's body: under 16 KiB text/plain; under 100 KiB
// multipart/alternative (text and HTML); from 100 KiB multipart/mixed with a short text
// and a base64 attachment that makes up the rest.
void build_bodies(std::vector<SizeClass>& classes, uint64_t seed);

// pick - a class by weight, from a uniform number in [0, 1).
size_t pick(const std::vector<SizeClass>& classes, double uniform);

// A small fast generator (xorshift64*) so that runs with the same seed send the same mix.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  double uniform() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
};

}  // namespace bench
