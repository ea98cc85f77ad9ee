// outbox_tail.cc - see outbox_tail.h.
#include "queue/outbox_tail.h"

#include <algorithm>

namespace hato::queue {

void OutboxTail::append(uint64_t first_seq, std::vector<std::string> events) {
  std::lock_guard lock(mu_);
  if (first_seq != first_ + events_.size()) {
    events_.clear();
    bytes_ = 0;
    first_ = first_seq;
  }
  for (std::string& e : events) {
    bytes_ += e.size();
    events_.push_back(std::move(e));
  }
  while (bytes_ > max_bytes_ && !events_.empty()) pop_front();
}

void OutboxTail::trim(uint64_t first) {
  std::lock_guard lock(mu_);
  while (first_ < first && !events_.empty()) pop_front();
  first_ = std::max(first_, first);
}

std::optional<OutboxTail::Events> OutboxTail::read(uint64_t from, size_t limit) const {
  std::lock_guard lock(mu_);
  if (from < first_) return std::nullopt;
  Events out;
  for (uint64_t seq = from; seq - first_ < events_.size() && out.size() < limit; ++seq)
    out.emplace_back(seq, events_[seq - first_]);
  return out;
}

void OutboxTail::pop_front() {
  bytes_ -= events_.front().size();
  events_.pop_front();
  ++first_;
}

}  // namespace hato::queue
