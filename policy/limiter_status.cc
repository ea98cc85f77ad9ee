// limiter_status.cc - `hato warmup status` and GET /v1/warmup: each egress address's
// warm-up day, allowance and counts, its suspensions and slowdowns, as JSON lines.
#include "common/log.h"
#include "policy/limiter_impl.h"

namespace hato::policy {

using limiter_detail::rate_text;

// status_json - one line per egress address; suspensions and slowdowns of every known
// provider, read from the state store where not yet in memory.
std::string Limiter::status_json(int64_t now_ms) {
  Impl& m = *impl_;
  std::string out;
  for (auto& e : m.egress) {
    m.roll_day(e, now_ms);
    out += "{\"address\":";
    log::append_json_string(out, e.ip);
    out += ",\"helo\":";
    log::append_json_string(out, e.config.helo);
    out += ",\"weight\":" + std::to_string(e.config.weight);
    out += ",\"day\":";
    out += e.config.warmup ? std::to_string(m.warmup_day(e, now_ms)) : "null";
    std::optional<uint64_t> allowed = m.allowance(e, now_ms);
    out += ",\"allowance\":";
    out += allowed ? std::to_string(*allowed) : "null";
    out += ",\"sent_today\":" + std::to_string(e.sent);
    if (auto counted = m.shared->cluster_count(m.count_key(e, ""))) {
      out += ",\"cluster_counted_today\":" + std::to_string(*counted);
    }
    bool per_provider = e.config.warmup && e.config.warmup->per_provider;
    if (per_provider) {
      out += ",\"per_provider\":true,\"sent_by_provider\":{";
      bool first = true;
      for (const auto& provider : m.provider_names) {
        uint64_t sent = m.sent_to(e, provider);
        if (sent == 0) continue;
        if (!first) out += ',';
        first = false;
        log::append_json_string(out, provider);
        out += ':' + std::to_string(sent);
      }
      out += '}';
    }
    std::string suspensions, slowdowns;
    for (const auto& provider : m.provider_names) {
      Impl::Pair& p = m.pair(e, provider);
      if (m.suspended(e, provider, p, now_ms)) {
        if (!suspensions.empty()) suspensions += ',';
        suspensions += "{\"provider\":";
        log::append_json_string(suspensions, provider);
        suspensions += ",\"until\":";
        log::append_json_string(suspensions, log::rfc3339(p.suspended_until));
        suspensions += ",\"reason\":";
        log::append_json_string(suspensions, p.suspend_reason);
        suspensions += '}';
      }
      m.rate(e, provider, p, now_ms);  // forgets a slowdown that is over
      if (p.slow_until != 0) {
        if (!slowdowns.empty()) slowdowns += ',';
        slowdowns += "{\"provider\":";
        log::append_json_string(slowdowns, provider);
        slowdowns += ",\"until\":";
        log::append_json_string(slowdowns, log::rfc3339(p.slow_until));
        slowdowns += ",\"rate\":";
        log::append_json_string(slowdowns, rate_text(p.slow_rate));
        slowdowns += ",\"reason\":";
        log::append_json_string(slowdowns, p.slow_reason);
        slowdowns += '}';
      }
    }
    if (e.out_of_rotation) {
      out += ",\"out_of_rotation\":";
      log::append_json_string(out, *e.out_of_rotation);
    }
    out += ",\"suspensions\":[" + suspensions + "]";
    out += ",\"slowdowns\":[" + slowdowns + "]";
    out += "}\n";
  }
  return out;
}

}  // namespace hato::policy
