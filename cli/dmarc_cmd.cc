// dmarc_cmd.cc - `hato dmarc summary` over the admin API (dmarc_cmd.h). Names in the
// answer (PTR names, reporters) come from strangers: printable() blanks control characters.
#include "cli/dmarc_cmd.h"

#include <charconv>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"
#include "common/strings.h"

namespace hato::cli {

namespace {

constexpr char kUsage[] = "usage: hato dmarc summary [--domain D] [--days N] [--json]\n";

int usage_error(const std::string& message) {
  return fail(kExitUsage,
              message + " (usage: hato dmarc summary [--domain D] [--days N] [--json])");
}

// "pass/fail" of two members.
std::string pair(const JsonValue& v, const char* pass, const char* failed) {
  return v[pass].text + "/" + v[failed].text;
}

}  // namespace

Result<std::string> dmarc_table(std::string_view json_lines) {
  std::vector<std::vector<std::string>> rows = {{"DOMAIN", "SOURCE", "PTR", "OURS", "MESSAGES",
                                                 "SPF PASS/FAIL", "DKIM PASS/FAIL",
                                                 "DMARC PASS/FAIL", "REPORTERS"}};
  Result<std::vector<JsonValue>> entries = read_json_lines(json_lines);
  if (!entries) return entries.status();
  for (const JsonValue& v : *entries) {
    if (v["source"].text.empty())
      return Result<std::string>::error("unreadable answer from the daemon");
    std::string reporters;
    for (const auto& r : v["reporters"].items)
      reporters += (reporters.empty() ? "" : ", ") + printable(r.text);
    rows.push_back({printable(v["domain"].text), printable(v["source"].text), cell(v["ptr"], "-"),
                    v["ours"].boolean ? "yes" : "no", v["messages"].text,
                    pair(v, "spf_pass", "spf_fail"), pair(v, "dkim_pass", "dkim_fail"),
                    pair(v, "dmarc_pass", "dmarc_fail"), reporters});
  }
  if (rows.size() == 1) return std::string("no DMARC reports in that time\n");
  return render_table(rows);
}

int dmarc_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] != "summary") return usage_error("unknown dmarc command '" + args[0] + "'");
  std::string query;
  bool json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if ((a == "--domain" || a == "--days") && i + 1 < args.size()) {
      std::string value = args[++i];
      if (a == "--days") {
        int days = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), days);
        if (ec != std::errc() || end != value.data() + value.size() || days < 1 || days > 366)
          return usage_error("--days must be a number from 1 to 366");
      }
      query += (query.empty() ? "?" : "&") + a.substr(2) + "=" +
               percent_encode(a == "--domain" ? ascii_lower(value) : value, "-._~");
    } else {
      return usage_error("dmarc summary: unexpected " + a);
    }
  }
  AdminResponse answer;
  if (int status = admin_call(config.admin.socket, false, "/v1/dmarc" + query, &answer))
    return status;
  if (json) return write_stdout(answer.body);
  auto table = dmarc_table(answer.body);
  if (!table) return fail(kExitFailed, table.message());
  return write_stdout(*table);
}

}  // namespace hato::cli
