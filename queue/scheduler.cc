// scheduler.cc - an ordered set of (due time, ID) with an index by ID.
#include "queue/scheduler.h"

#include <algorithm>

namespace hato::queue {

void Scheduler::schedule(const QueueId& id, int64_t due_ms) {
  auto [it, inserted] = due_.try_emplace(id, due_ms);
  if (!inserted) {
    order_.erase({it->second, id});
    it->second = due_ms;
  }
  order_.insert({due_ms, id});
}

void Scheduler::remove(const QueueId& id) {
  auto it = due_.find(id);
  if (it == due_.end()) return;
  order_.erase({it->second, id});
  due_.erase(it);
}

std::vector<QueueId> Scheduler::take_due(int64_t now_ms, size_t limit) {
  std::vector<QueueId> out;
  while (!order_.empty() && out.size() < limit && order_.begin()->first <= now_ms) {
    QueueId id = order_.begin()->second;
    order_.erase(order_.begin());
    due_.erase(id);
    out.push_back(id);
  }
  return out;
}

std::optional<int64_t> Scheduler::next_due() const {
  if (order_.empty()) return std::nullopt;
  return order_.begin()->first;
}

size_t Scheduler::flush_all(int64_t now_ms) {
  order_.clear();
  for (auto& [id, due] : due_) {
    due = std::min(due, now_ms);
    order_.insert({due, id});
  }
  return due_.size();
}

}  // namespace hato::queue
