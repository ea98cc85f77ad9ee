// dmarc_summary.cc - DmarcReports::summary_json (dmarc_reports.h): the stored counts of the
// last days summed per domain and source, for GET /v1/dmarc and `hato dmarc summary`.
#include <map>
#include <set>

#include "common/log.h"
#include "queue/state_keys.h"
#include "relay/dmarc_reports.h"

namespace hato::relay {

namespace dr = policy::dmarc_report;
namespace st = queue::state;

namespace {

struct Row {
  dr::Counts counts;
  std::set<std::string> reporters;
};

void append_number(std::string& out, const char* name, uint64_t n) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(n);
}

}  // namespace

Result<std::string> DmarcReports::summary_json(const std::string& domain, int days) {
  int64_t now_s = log::now_ms() / 1000;
  std::string first_day = dr::utc_day(now_s - int64_t{86400} * (days - 1));
  std::map<std::pair<std::string, std::string>, Row> rows;
  Status s = state_.scan(
      st::dmarc_counts_prefix(domain), [&](std::string_view key, std::string_view value) {
        auto parsed = st::parse_key(key);
        dr::Counts c;
        // Fields: domain, day, reporter, source. YYYY-MM-DD compares as text.
        if (!parsed || parsed->fields[1] < first_day || !dr::Counts::parse(value, &c)) return true;
        Row& row = rows[{parsed->fields[0], parsed->fields[3]}];
        row.counts.add(c);
        row.reporters.insert(st::unescape_field(parsed->fields[2]));
        return true;
      });
  if (!s) return s;
  std::string out;
  for (const auto& [where, row] : rows) {
    const auto& [d, ip] = where;
    Source source = stored_source(d, ip);
    bool ours = is_egress(ip) || source.spf == "pass";
    const dr::Counts& c = row.counts;
    out += "{\"domain\":";
    log::append_json_string(out, d);
    out += ",\"source\":";
    log::append_json_string(out, ip);
    out += ",\"ptr\":";
    if (source.ptr.empty()) {
      out += "null";
    } else {
      log::append_json_string(out, source.ptr);
    }
    out += ",\"ours\":";
    out += ours ? "true" : "false";
    out += ",\"spf_record\":";
    log::append_json_string(out, source.known ? source.spf : "unknown");
    append_number(out, "messages", c.messages);
    append_number(out, "spf_pass", c.spf_pass);
    append_number(out, "spf_fail", c.spf_fail);
    append_number(out, "dkim_pass", c.dkim_pass);
    append_number(out, "dkim_fail", c.dkim_fail);
    append_number(out, "dmarc_pass", c.dmarc_pass);
    append_number(out, "dmarc_fail", c.dmarc_fail);
    append_number(out, "none", c.none);
    append_number(out, "quarantine", c.quarantine);
    append_number(out, "reject", c.reject);
    out += ",\"reporters\":[";
    bool first = true;
    for (const auto& r : row.reporters) {
      if (!first) out += ',';
      first = false;
      log::append_json_string(out, r);
    }
    out += "]}\n";
  }
  return out;
}

}  // namespace hato::relay
