// outbox_tail.h - the newest events of the webhooks' outbox, in memory.
//
// The webhooks send what was just committed from here, without reading RocksDB back (a read
// there builds an iterator over the range deletions of every trim since the last flush).
// RocksDB stays the source for everything older than the tail: after a restart, or for a hook
// further behind than the tail holds. The committer appends in sequence order once a batch is
// written; the loop reads copies. Bounded in bytes: the oldest go first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hato::queue {

class OutboxTail {
 public:
  // Empty, expecting `next` as the next sequence number.
  OutboxTail(uint64_t next, size_t max_bytes) : first_(next), max_bytes_(max_bytes) {}

  // Events written under the sequence numbers from `first_seq` on. Anything else than the
  // next number expected starts the tail over there.
  void append(uint64_t first_seq, std::vector<std::string> events);
  // The events before `first` are gone from the outbox (acknowledged or dropped).
  void trim(uint64_t first);
  // Copies of up to `limit` events from `from` on, with their sequence numbers (none when
  // nothing that new was written), or nullopt when the tail starts after `from`.
  using Events = std::vector<std::pair<uint64_t, std::string>>;
  std::optional<Events> read(uint64_t from, size_t limit) const;

 private:
  void pop_front();

  mutable std::mutex mu_;
  std::deque<std::string> events_;
  uint64_t first_;  // the sequence number of events_.front(), or the next one when empty
  size_t bytes_ = 0;
  const size_t max_bytes_;
};

}  // namespace hato::queue
