// tlsrpt.cc - counting TLS results and mailing RFC 8460 reports.
#include "relay/tlsrpt.h"

#include <random>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "queue/state_keys.h"

namespace hato::relay {

namespace rpt = policy::tlsrpt;

namespace {

constexpr auto kCheckEvery = std::chrono::hours(1);

// One domain-day's counts as stored, found by a scan.
struct Pending {
  std::string key;
  std::string day;
  std::string domain;
  std::string counts;  // rpt::encode()d
};

std::string random_hex(size_t bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xFF;
    out += kHex[v >> 4];
    out += kHex[v & 15];
  }
  return out;
}

}  // namespace

TlsReporter::TlsReporter(Loop& loop, net::Resolver& resolver, policy::StateStore& state,
                         conf::ConfigPtr config)
    : resolver_(resolver), state_(state), config_(std::move(config)), timer_(loop, [this] {
        send_reports(false);
        timer_.arm(kCheckEvery);
      }) {
  // Releases before kept a list of the counts' keys; the scan finds them without it.
  if (state_.get(queue::state::tlsrpt_index_key())) {
    state_.erase(queue::state::tlsrpt_index_key());
    log::info("tls report index of an older release dropped: counts are found by their keys",
              {{"key", queue::state::tlsrpt_index_key()}});
  }
}

void TlsReporter::start() {
  timer_.arm(std::chrono::minutes(1));  // soon after start: days missed while down
}

std::string TlsReporter::organization() const {
  return config_->delivery.tls_report_organization.empty()
             ? config_->hostname
             : config_->delivery.tls_report_organization;
}

std::string TlsReporter::from_address() const {
  if (!config_->delivery.tls_report_from.empty()) return config_->delivery.tls_report_from;
  std::string domain = config_->domains.empty() ? config_->hostname : config_->domains[0].name;
  return "tls-reports@" + domain;
}

void TlsReporter::record(const std::string& domain, const rpt::PolicyKey& policy,
                         const std::string& result_type, const std::string& mx_host,
                         const std::string& ip) {
  std::string key = queue::state::tlsrpt_counts_key(rpt::utc_day(log::now_ms()), domain);
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    rpt::DayCounts loaded;
    if (auto stored = state_.get(key)) {
      if (auto decoded = rpt::decode(*stored)) loaded = std::move(*decoded);
    }
    it = counts_.emplace(key, std::move(loaded)).first;
  }
  it->second.add(policy, result_type, mx_host, ip);
  state_.put(key, rpt::encode(it->second));
}

size_t TlsReporter::send_reports(bool include_today) {
  namespace state = queue::state;
  std::string today = rpt::utc_day(log::now_ms());
  std::vector<Pending> due;
  Status scanned = state_.scan(
      state::prefix(state::Kind::kTlsrptCounts), [&](std::string_view key, std::string_view value) {
        auto parsed = state::parse_key(key);
        if (!parsed || parsed->kind != state::Kind::kTlsrptCounts) return true;
        const std::string& day = parsed->fields[0];
        if (day >= today && !include_today) return true;
        due.push_back({std::string(key), day, parsed->fields[1], std::string(value)});
        return true;
      });
  if (!scanned) log::error("cannot read the tls report counts", {{"reason", scanned.message()}});
  // The scan only reads: the records are dropped once it is over.
  for (Pending& p : due) {
    rpt::DayCounts counts;
    if (auto decoded = rpt::decode(p.counts)) counts = std::move(*decoded);
    state_.erase(p.key);
    counts_.erase(p.key);
    report(p.day, p.domain, std::move(counts));
  }
  return due.size();
}

void TlsReporter::report(const std::string& day, const std::string& domain, rpt::DayCounts counts) {
  if (counts.policies.empty()) return;
  std::weak_ptr<int> alive = alive_;
  resolver_.txt("_smtp._tls." + domain, [this, alive, day, domain,
                                         counts = std::move(counts)](net::TxtResult txt) {
    if (alive.expired()) return;
    std::optional<std::vector<std::string>> rua;
    if (txt.status == net::DnsStatus::kOk) rua = rpt::parse_txt(txt.records);
    if (!rua) {
      log::info("tls report not wanted", {{"domain", domain}, {"day", day}});
      return;
    }
    rpt::ReportInfo info;
    info.organization = organization();
    info.contact = from_address();
    info.report_id = day + "T00:00:00Z_" + domain + "_" + random_hex(8) + "@" + config_->hostname;
    info.day = day;
    info.domain = domain;
    std::string json = rpt::report_json(info, counts);
    for (const auto& uri : *rua) {
      // mailto: only; https: reporting (RFC 8460 5.4) is not done here.
      if (uri.size() <= 7 || uri.compare(0, 7, "mailto:") != 0) continue;
      std::string to = uri.substr(7);
      to = to.substr(0, to.find('?'));  // no header fields from a URI
      if (to.find('@') == std::string::npos || !sender_) continue;
      log::info("tls report", {{"domain", domain}, {"day", day}, {"to", to}});
      sender_(from_address(), to,
              build_message(from_address(), to, info.organization, info, json, log::now_ms()));
    }
  });
}

std::string TlsReporter::build_message(const std::string& from, const std::string& to,
                                       const std::string& organization, const rpt::ReportInfo& info,
                                       const std::string& json, int64_t now_ms) {
  std::string boundary = "tlsrpt-" + random_hex(12);
  int64_t start = rpt::day_start_seconds(info.day);
  std::string filename = organization + "!" + info.domain + "!" + std::to_string(start) + "!" +
                         std::to_string(start + 86400) + "!" + random_hex(4) + ".json";
  std::string m;
  m += "From: <" + from + ">\r\n";
  m += "To: <" + to + ">\r\n";
  m += "Date: " + log::rfc5322(now_ms) + "\r\n";
  m += "Message-ID: <" + random_hex(12) + "." + from + ">\r\n";
  m += "Subject: Report Domain: " + info.domain + " Submitter: " + organization + " Report-ID: <" +
       info.report_id + ">\r\n";
  m += "TLS-Report-Domain: " + info.domain + "\r\n";
  m += "TLS-Report-Submitter: " + organization + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"" + boundary +
       "\"\r\n\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  m += "This is an aggregate TLS report (RFC 8460) from " + organization + " for " + info.domain +
       ", " + info.day + " UTC.\r\n\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: application/tlsrpt+json\r\n";
  m += "Content-Disposition: attachment;\r\n\tfilename=\"" + filename + "\"\r\n";
  m += "Content-Transfer-Encoding: 7bit\r\n\r\n";
  m += json + "\r\n";
  m += "--" + boundary + "--\r\n";
  return m;
}

size_t receive_tls_reports(const std::string& message, const std::string& id) {
  // Cheap test first: every message delivered locally passes through here.
  if (message.find("tlsrpt") == std::string::npos && message.find("TLSRPT") == std::string::npos)
    return 0;
  size_t n = 0;
  for (const auto& json : rpt::report_attachments(message)) {
    auto report = rpt::parse_report(json);
    if (!report) {
      log::warning("TLS report not readable", {{"id", id}, {"reason", "not RFC 8460 JSON"}});
      continue;
    }
    ++n;
    // Label values come from strangers: bounded in length.
    std::string org = report->info.organization.substr(0, 64);
    uint64_t successes = 0, failures = 0;
    for (const auto& p : report->counts.policies) {
      successes += p.successes;
      for (const auto& f : p.failures) {
        failures += f.count;
        std::string labels = "organization=\"" + label_value(org) + "\",result_type=\"" +
                             label_value(f.result_type.substr(0, 64)) + "\"";
        metrics()
            .counter("hato_tlsrpt_received_failures_total",
                     "Failed TLS sessions reported to us (TLS-RPT), by reporter and result type",
                     labels)
            .inc(f.count);
        log::warning("TLS report failure", {{"id", id},
                                            {"organization", org},
                                            {"domain", report->info.domain},
                                            {"result_type", f.result_type},
                                            {"mx", f.mx_host},
                                            {"ip", f.ip},
                                            {"count", std::to_string(f.count)}});
      }
    }
    metrics()
        .counter("hato_tlsrpt_received_reports_total", "TLS-RPT reports received, by reporter",
                 "organization=\"" + label_value(org) + "\"")
        .inc();
    log::info("TLS report received", {{"id", id},
                                      {"organization", org},
                                      {"report_id", report->info.report_id},
                                      {"domain", report->info.domain},
                                      {"day", report->info.day},
                                      {"successes", std::to_string(successes)},
                                      {"failures", std::to_string(failures)}});
  }
  return n;
}

}  // namespace hato::relay
