// queue_id.h - queue IDs: time-ordered, unique, never reused.
//
// 10 bytes: 48-bit milliseconds since the epoch, 24-bit sequence, 8-bit node
// tag, all big-endian so byte order is time order. Printed as 16 characters of
// Crockford base32, which sorts the same way.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hato::queue {

struct QueueId {
  std::array<uint8_t, 10> bytes{};

  int64_t time_ms() const;
  uint32_t seq() const;  // the 24-bit sequence within the millisecond
  uint8_t node() const;
  std::string str() const;        // 16 characters
  std::string_view key() const {  // RocksDB key form
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  static std::optional<QueueId> parse(std::string_view printed);
  static std::optional<QueueId> from_key(std::string_view key);
  // Builds an ID from its parts; ms is cut to 48 bits and seq to 24.
  static QueueId make(int64_t ms, uint32_t seq, uint8_t node);
  auto operator<=>(const QueueId&) const = default;
};

// Thread-safe. Never goes back in time: seeded at start with the newest ID in
// the store, so a clock step backwards cannot produce a used ID.
class QueueIdGenerator {
 public:
  explicit QueueIdGenerator(uint8_t node = 0) : node_(node) {}
  void seed(const QueueId& newest);
  QueueId next();
  QueueId next_at(int64_t now_ms);  // for tests

 private:
  std::mutex mu_;
  uint8_t node_;
  int64_t last_ms_ = 0;
  uint32_t seq_ = 0;
};

}  // namespace hato::queue
