// complaint_rate.h - complaints per delivered message, per provider, over a sliding window
// (shaping.complaints): the rate mailbox providers judge a sender by (Gmail asks for less
// than 0.3%, better under 0.1%). The limiter (policy/limiter.h) slows down or suspends every
// egress address's sending to a provider whose rate goes over the limits.
//
// Pure counting: the window is cut into kBuckets buckets, so the counts are those of the last
// window give or take one bucket. A complaint names the complaining recipient's domain, not
// the MX it was delivered to: the provider is the one that domain's mail was last delivered
// to (learned from deliveries), "default" when not known.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace hato::policy {

struct ComplaintCounts {
  uint64_t delivered = 0;
  uint64_t complaints = 0;
  double rate() const {
    return delivered ? static_cast<double>(complaints) / static_cast<double>(delivered) : 0.0;
  }
};

enum class ComplaintAction { kNone, kSlowDown, kSuspend };

// What the limits say of these counts: nothing below min_delivered (0.3% of 50 messages is
// noise), else suspend above suspend_above, slow down above slow_above.
ComplaintAction complaint_action(const ComplaintCounts& counts,
                                 const conf::ComplaintLimits& limits);

class ComplaintRate {
 public:
  static constexpr int kBuckets = 24;
  explicit ComplaintRate(int64_t window_ms);

  void delivered(std::string_view provider, std::string_view rcpt_domain, int64_t now_ms);
  // Counts a complaint by a recipient of `rcpt_domain`; gives the provider it counted for.
  std::string complained(std::string_view rcpt_domain, int64_t now_ms);
  ComplaintCounts counts(std::string_view provider, int64_t now_ms);

 private:
  struct Bucket {
    int64_t start;
    ComplaintCounts counts;
  };
  struct Series {
    std::deque<Bucket> buckets;
    std::shared_ptr<std::atomic<double>> gauge;  // hato_complaint_rate{provider}
  };
  Series& series(std::string_view provider, int64_t now_ms);
  ComplaintCounts& current(std::string_view provider, int64_t now_ms);
  void publish(std::string_view provider, int64_t now_ms);

  int64_t bucket_ms_;
  std::map<std::string, Series, std::less<>> series_;
  std::map<std::string, std::string, std::less<>> provider_of_;  // recipient domain -> provider
};

}  // namespace hato::policy
