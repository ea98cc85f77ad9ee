// tlsrpt.h - SMTP TLS Reporting (RFC 8460) as data: the `_smtp._tls` TXT record, a
// day's session counts for one destination domain, and the JSON report. No I/O here;
// relay/tlsrpt.h counts, stores and mails.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hato::policy::tlsrpt {

// The rua URIs of the TXT records at _smtp._tls.<domain> (RFC 8460 3): exactly one record
// beginning with "v=TLSRPTv1" and an rua field; otherwise nullopt.
std::optional<std::vector<std::string>> parse_txt(const std::vector<std::string>& records);

// The policy a session was judged by (RFC 8460 4.3).
struct PolicyKey {
  std::string type;             // "sts", "tlsa" or "no-policy-found"
  std::string text;             // the MTA-STS policy file (sts), or the TLSA records as text (tlsa)
  std::vector<std::string> mx;  // sts: the policy's mx patterns

  bool operator==(const PolicyKey&) const = default;
};

struct FailureCount {
  std::string result_type;  // "certificate-host-mismatch", "starttls-not-supported", ...
  std::string mx_host;      // receiving-mx-hostname; may be empty
  std::string ip;           // receiving-ip; may be empty
  uint64_t count = 0;
};

struct PolicyCounts {
  PolicyKey policy;
  uint64_t successes = 0;
  std::vector<FailureCount> failures;
  uint64_t failure_total() const;
};

// One destination domain's sessions of one UTC day.
struct DayCounts {
  std::vector<PolicyCounts> policies;
  // result_type empty: a successful session.
  void add(const PolicyKey& policy, const std::string& result_type, const std::string& mx_host,
           const std::string& ip);
};

// The stored form (state family); decode() refuses anything garbled.
std::string encode(const DayCounts& counts);
std::optional<DayCounts> decode(std::string_view bytes);

struct ReportInfo {
  std::string organization;  // organization-name
  std::string contact;       // contact-info
  std::string report_id;
  std::string day;  // "2026-11-28" (UTC)
  std::string domain;
};

// The report (RFC 8460 4.4), one JSON object.
std::string report_json(const ReportInfo& info, const DayCounts& counts);

// A report received at our rua (RFC 8460 4.4), read back into the same structures: info
// (organization, contact, report_id, day of start-datetime, domain of the first policy) and
// counts per policy. nullopt when it is not a TLS-RPT report.
struct ReceivedReport {
  ReportInfo info;
  DayCounts counts;
};
std::optional<ReceivedReport> parse_report(std::string_view json);

// The reports a message carries (RFC 8460 5.3): the decoded bodies of its MIME parts of type
// application/tlsrpt+json, and of application/tlsrpt+gzip unzipped. Base64 and identity
// transfer encodings; nested multiparts followed; at most `max_bytes` per report unzipped.
std::vector<std::string> report_attachments(std::string_view message,
                                            size_t max_bytes = 16 * 1024 * 1024);

// "YYYY-MM-DD" of a Unix time in milliseconds, UTC; and back to the day's first second.
std::string utc_day(int64_t unix_ms);
int64_t day_start_seconds(std::string_view day);

}  // namespace hato::policy::tlsrpt
