// queue_shape.cc - counting the queue summary and writing it as JSON.
#include "cli/queue_shape.h"

#include <algorithm>

#include "common/log.h"
#include "common/strings.h"

namespace hato::cli {

std::string address_domain(std::string_view address) {
  size_t at = address.rfind('@');
  return ascii_lower(at == std::string_view::npos ? std::string_view() : address.substr(at + 1));
}

// Lines may end in CRLF (as received) or LF alone; either ends the section.
std::string_view header_section(std::string_view message) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) return message;
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return message.substr(0, pos);
    pos = eol + 1;
  }
  return message;
}

void QueueShape::add(const queue::StoredMessage& m) {
  const queue::Envelope& env = m.envelope;
  if (state_ && env.state != *state_) return;
  size_t bucket = summary_bucket(now_ms_ - env.created_ms);
  seen_.clear();  // the domains this message has been counted under
  for (const auto& r : env.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    std::string domain = address_domain(r.address);
    Row& row = domains_[domain];
    ++row.recipients;
    ++total_.recipients;
    if (std::find(seen_.begin(), seen_.end(), domain) == seen_.end()) {
      ++row.messages;
      ++row.counts[bucket];
      seen_.push_back(std::move(domain));
    }
  }
  // A message without pending recipients is on its way out; it still occupies the queue,
  // so the total counts it.
  ++total_.messages;
  ++total_.counts[bucket];
  ++states_[static_cast<size_t>(env.state)];
}

std::vector<std::pair<const std::string*, const QueueShape::Row*>> QueueShape::rows() const {
  std::vector<std::pair<const std::string*, const Row*>> rows;
  rows.reserve(domains_.size());
  for (const auto& [domain, row] : domains_) rows.emplace_back(&domain, &row);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.second->messages != b.second->messages) return a.second->messages > b.second->messages;
    return *a.first < *b.first;
  });
  return rows;
}

std::string QueueShape::bucket_name(size_t i) {
  if (i + 1 < kSummaryBuckets)
    return std::to_string(i ? kSummaryBucketMinutes[i - 1] : 0) + "-" +
           std::to_string(kSummaryBucketMinutes[i]) + "m";
  return std::to_string(kSummaryBucketMinutes[i - 1]) + "m+";
}

namespace {

void append_row(std::string& out, const std::string* domain, const QueueShape::Row& row) {
  out += '{';
  if (domain) {
    out += "\"domain\":";
    log::append_json_string(out, *domain);
    out += ',';
  }
  out += "\"messages\":" + std::to_string(row.messages);
  out += ",\"recipients\":" + std::to_string(row.recipients);
  out += ",\"counts\":[";
  for (size_t i = 0; i < row.counts.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(row.counts[i]);
  }
  out += "]}";
}

}  // namespace

std::string QueueShape::json() const {
  std::string out = "{\"buckets\":[";
  for (size_t i = 0; i < kSummaryBuckets; ++i) {
    if (i) out += ',';
    out += '"' + bucket_name(i) + '"';
  }
  out += "],\"total\":";
  append_row(out, nullptr, total_);
  out.pop_back();  // the total also says how many are in each state
  for (auto s :
       {queue::MessageState::kQueued, queue::MessageState::kDeferred, queue::MessageState::kHeld}) {
    out += ",\"";
    out += message_state_name(s);
    out += "\":" + std::to_string(in_state(s));
  }
  out += "},\"domains\":[";
  auto sorted = rows();
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i) out += ',';
    append_row(out, sorted[i].first, *sorted[i].second);
  }
  out += "]}\n";
  return out;
}

}  // namespace hato::cli
