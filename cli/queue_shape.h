// queue_shape.h - the queue summary (Postfix's qshape): pending recipients' domains by
// message age. One counter for `hato queue summary` (through the admin API's walk) and the
// dashboard's queue page, so both show the same numbers for the same queue.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/admin_server.h"
#include "queue/store.h"

namespace hato::cli {

class QueueShape {
 public:
  struct Row {
    uint64_t messages = 0;
    uint64_t recipients = 0;
    std::array<uint64_t, kSummaryBuckets> counts{};
  };

  // Counts messages in `state` only (nullopt: all), aged against `now_ms`.
  QueueShape(std::optional<queue::MessageState> state, int64_t now_ms)
      : state_(state), now_ms_(now_ms) {}

  void add(const queue::StoredMessage& message);

  const Row& total() const { return total_; }
  uint64_t in_state(queue::MessageState s) const { return states_[static_cast<size_t>(s)]; }
  // Busiest first, as qshape sorts; ties by name, so the order is stable.
  std::vector<std::pair<const std::string*, const Row*>> rows() const;
  // The bucket's heading: "0-5m", ..., "1280m+".
  static std::string bucket_name(size_t bucket);
  // GET /v1/queue/summary's answer (INTERFACE.md), with its newline.
  std::string json() const;

 private:
  const std::optional<queue::MessageState> state_;
  const int64_t now_ms_;
  Row total_;
  std::array<uint64_t, 3> states_{};
  std::map<std::string, Row> domains_;
  std::vector<std::string> seen_;
};

// The domain of an address, after the last '@'; lower case.
std::string address_domain(std::string_view address);
// The header section of a message, without the empty line that ends it.
std::string_view header_section(std::string_view message);

}  // namespace hato::cli
