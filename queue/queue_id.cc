// queue_id.cc - queue ID layout, printing and the monotonic generator.
#include "queue/queue_id.h"

#include <chrono>

namespace hato::queue {

namespace {

// Crockford base32: no I, L, O, U, and the digits-then-letters order matches
// ASCII, so printed IDs sort like the bytes they print.
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kPrintedLength = 16;  // 80 bits / 5 bits per character
constexpr int64_t kMaxMs = (int64_t{1} << 48) - 1;
constexpr uint32_t kMaxSeq = (uint32_t{1} << 24) - 1;

// Character to 5-bit value, -1 for anything outside the alphabet; lower case
// is accepted because people retype IDs from logs.
struct DecodeTable {
  int8_t value[256];
  constexpr DecodeTable() : value() {
    for (int8_t& v : value) v = -1;
    for (int i = 0; i < 32; ++i) {
      unsigned char c = static_cast<unsigned char>(kAlphabet[i]);
      value[c] = static_cast<int8_t>(i);
      if (c >= 'A' && c <= 'Z') value[c - 'A' + 'a'] = static_cast<int8_t>(i);
    }
  }
};
constexpr DecodeTable kDecode;

}  // namespace

int64_t QueueId::time_ms() const {
  int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | bytes[i];
  return ms;
}

uint32_t QueueId::seq() const {
  return (uint32_t{bytes[6]} << 16) | (uint32_t{bytes[7]} << 8) | bytes[8];
}

uint8_t QueueId::node() const {
  return bytes[9];
}

QueueId QueueId::make(int64_t ms, uint32_t seq, uint8_t node) {
  QueueId id;
  uint64_t m = static_cast<uint64_t>(ms) & static_cast<uint64_t>(kMaxMs);
  for (int i = 5; i >= 0; --i, m >>= 8) id.bytes[i] = static_cast<uint8_t>(m);
  seq &= kMaxSeq;
  id.bytes[6] = static_cast<uint8_t>(seq >> 16);
  id.bytes[7] = static_cast<uint8_t>(seq >> 8);
  id.bytes[8] = static_cast<uint8_t>(seq);
  id.bytes[9] = node;
  return id;
}

std::string QueueId::str() const {
  std::string out;
  out.reserve(kPrintedLength);
  uint32_t acc = 0;  // never holds more than 12 bits
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kAlphabet[(acc >> bits) & 31];
    }
    acc &= (1u << bits) - 1;
  }
  return out;
}

std::optional<QueueId> QueueId::parse(std::string_view printed) {
  if (printed.size() != kPrintedLength) return std::nullopt;
  QueueId id;
  uint32_t acc = 0;
  int bits = 0;
  size_t out = 0;
  for (char c : printed) {
    int8_t v = kDecode.value[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      id.bytes[out++] = static_cast<uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  return id;
}

std::optional<QueueId> QueueId::from_key(std::string_view key) {
  QueueId id;
  if (key.size() != id.bytes.size()) return std::nullopt;
  for (size_t i = 0; i < key.size(); ++i) id.bytes[i] = static_cast<uint8_t>(key[i]);
  return id;
}

void QueueIdGenerator::seed(const QueueId& newest) {
  std::lock_guard lock(mu_);
  // Only forwards: seeding with an older ID must not undo IDs already handed out.
  int64_t ms = newest.time_ms();
  uint32_t seq = newest.seq();
  if (ms > last_ms_ || (ms == last_ms_ && seq > seq_)) {
    last_ms_ = ms;
    seq_ = seq;
  }
}

QueueId QueueIdGenerator::next() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return next_at(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

QueueId QueueIdGenerator::next_at(int64_t now_ms) {
  if (now_ms > kMaxMs) now_ms = kMaxMs;  // the year 10889
  std::lock_guard lock(mu_);
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    seq_ = 0;
  } else if (seq_ < kMaxSeq) {
    // Same millisecond, or the clock stepped back: stay on the last one.
    ++seq_;
  } else {
    // 16M IDs in one millisecond: borrow the next millisecond rather than wrap.
    ++last_ms_;
    seq_ = 0;
  }
  return QueueId::make(last_ms_, seq_, node_);
}

}  // namespace hato::queue
