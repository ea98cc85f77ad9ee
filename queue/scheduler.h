// scheduler.h - the in-memory index of when each queued message is due.
//
// Rebuilt from the store at start (the store is the truth). Messages being
// delivered are taken out and scheduled again with their next attempt, so a
// message is never in two deliveries at once. O(log n) per operation; nothing
// here scans the queue.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "queue/queue_id.h"

namespace hato::queue {

struct QueueIdHash {
  size_t operator()(const QueueId& id) const {
    uint64_t h = 1469598103934665603ull;
    for (uint8_t b : id.bytes) h = (h ^ b) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

class Scheduler {
 public:
  void schedule(const QueueId& id, int64_t due_ms);  // adds, or moves
  void remove(const QueueId& id);
  bool contains(const QueueId& id) const { return due_.count(id) != 0; }
  // Takes (removes) up to `limit` messages due at or before now, earliest first.
  std::vector<QueueId> take_due(int64_t now_ms, size_t limit);
  std::optional<int64_t> next_due() const;
  // Makes everything due at now_ms (an operator's flush); returns how many.
  size_t flush_all(int64_t now_ms);
  size_t size() const { return due_.size(); }

 private:
  std::set<std::pair<int64_t, QueueId>> order_;
  std::unordered_map<QueueId, int64_t, QueueIdHash> due_;
};

}  // namespace hato::queue
