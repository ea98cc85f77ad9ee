// dmarc_report.h - DMARC aggregate reports (RFC 7489 7.2, Appendix C) received at our rua
// address: the report found in the mail (a zip, gzip or plain XML part, by media type or by
// the file name of 7.2.1.1), unpacked and read into plain structures, and one report's
// counts per source address. Pure: no DNS, no store.
//
// The reports come from strangers, so reading is bounded: the unpacked XML may not pass
// kMaxReportBytes (checked while inflating, so a zip bomb stops there), a DTD is refused
// before libxml2 sees the text (no entity is ever expanded or loaded), libxml2 never touches
// the network and keeps its default depth limit (no XML_PARSE_HUGE), and our own walk stops
// at kMaxDepth.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hato::policy::dmarc_report {

inline constexpr size_t kMaxReportBytes = 20 * 1024 * 1024;
inline constexpr int kMaxDepth = 16;
inline constexpr size_t kMaxRecords = 20000;  // counted on the loop: bounded work

struct AuthResult {
  std::string domain;
  std::string selector;  // dkim only
  std::string scope;     // spf only: mfrom or helo
  std::string result;    // pass, fail, none, ...
};

struct Record {
  std::string source_ip;  // as the report wrote it, checked to be an IPv4 or IPv6 address
  uint64_t count = 0;
  std::string disposition;  // none, quarantine, reject
  std::string dkim;         // policy_evaluated: pass or fail (aligned)
  std::string spf;
  std::vector<std::pair<std::string, std::string>> reasons;  // type, comment
  std::string header_from;
  std::vector<AuthResult> dkim_results;
  std::vector<AuthResult> spf_results;
};

struct Report {
  std::string org_name;
  std::string email;
  std::string report_id;
  int64_t begin = 0;  // seconds since 1970, UTC
  int64_t end = 0;
  std::string domain;  // policy_published, lower case
  std::string p, adkim, aspf;
  int pct = 100;
  std::vector<Record> records;
};

// find_report - the report's XML from a whole message: the first part that is
// application/zip, application/x-zip-compressed, application/gzip, application/x-gzip,
// text/xml or application/xml, or any part whose file name ends in .zip, .xml.gz, .gz or .xml
// (7.2.1.1). An error names why nothing was read (no such part, bad base64, a zip or gzip
// that does not unpack, larger than kMaxReportBytes unpacked).
[[nodiscard]] Result<std::string> find_report(std::string_view message);

// parse_xml - the report in `xml` (Appendix C), or why it is refused: a DTD, not well-formed,
// too deep, a required element missing or malformed (report_id, org_name, date_range begin,
// policy_published domain, a record's source_ip or count).
[[nodiscard]] Result<Report> parse_xml(std::string_view xml);

// read_message - find_report() and parse_xml().
[[nodiscard]] Result<Report> read_message(std::string_view message);

// One source's counts in one report (or summed over several). "Pass" for SPF and DKIM is
// policy_evaluated (aligned); DMARC passes when either does.
struct Counts {
  uint64_t messages = 0;
  uint64_t none = 0, quarantine = 0, reject = 0;
  uint64_t spf_pass = 0, spf_fail = 0;
  uint64_t dkim_pass = 0, dkim_fail = 0;
  uint64_t dmarc_pass = 0, dmarc_fail = 0;

  void add(const Counts& other);
  // "messages none quarantine reject spf_pass spf_fail dkim_pass dkim_fail dmarc_pass
  // dmarc_fail" in decimal; parse() is false for anything else.
  std::string serialize() const;
  static bool parse(std::string_view text, Counts* out);
};

// The report's records summed per source address (several records of one source, as
// Microsoft sends them, add up).
std::map<std::string, Counts> counts_by_source(const Report& report);

// "YYYY-MM-DD" of `seconds` since 1970, UTC.
std::string utc_day(int64_t seconds);

}  // namespace hato::policy::dmarc_report
