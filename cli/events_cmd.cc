// events_cmd.cc - `hato events status` over the admin API. --json prints the daemon's lines
// (relay/webhooks.h documents them); the table is for people.
#include "cli/events_cmd.h"

#include <cstdio>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"

namespace hato::cli {

namespace {

constexpr char kUsage[] = "usage: hato events status [--json]\n";

int usage_error(const std::string& message) {
  return fail(kExitUsage, message + " (usage: hato events status [--json])");
}

std::string or_dash(const std::string& text) {
  return text.empty() ? "-" : printable(text);
}

}  // namespace

Result<std::string> events_table(std::string_view json_lines) {
  Result<std::vector<JsonValue>> entries = read_json_lines(json_lines);
  if (!entries) return entries.status();
  std::vector<std::vector<std::string>> rows = {
      {"HOOK", "BACKLOG", "LAST SUCCESS", "LAST FAILURE", "NEXT RETRY"}};
  std::string notes;
  for (const JsonValue& e : *entries) {
    if (e.kind != JsonValue::Kind::kObject)
      return Result<std::string>::error("unreadable answer from the daemon");
    if (!e["outbox"].is_null()) {
      notes += "Outbox: " + printable(e["outbox"].text) + " events kept, " +
               printable(e["dropped"].text) + " dropped beyond events.backlog since the start.\n";
      continue;
    }
    rows.push_back({printable(e.str("hook")), printable(e["backlog"].text),
                    or_dash(e.str("last_success")), or_dash(e.str("last_failure")),
                    or_dash(e.str("next_retry"))});
    if (!e.str("last_error").empty())
      notes += printable(e.str("hook")) + " last failed: " + printable(e.str("last_error")) + "\n";
  }
  if (rows.size() == 1) return "No webhooks are configured (events.webhooks).\n" + notes;
  return render_table(rows) + (notes.empty() ? "" : "\n" + notes);
}

int events_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty()) return usage_error("events needs a command");
  if (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (args[0] != "status") return usage_error("unknown events command: " + args[0]);
  bool json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] != "--json") return usage_error("events status: unexpected " + args[i]);
    json = true;
  }
  bool unreachable = false;
  Result<AdminResponse> r = admin_get(config.admin.socket, "/v1/events/status", &unreachable);
  if (!r) return fail(unreachable ? kExitUnreachable : kExitFailed, r.message());
  if (r->status != 200) {
    std::string reason;
    if (auto body = parse_json(r->body)) reason = (*body)["error"].text;
    if (reason.empty()) reason = "the daemon answered HTTP " + std::to_string(r->status);
    return fail(kExitFailed, reason);
  }
  if (json) return write_stdout(r->body);
  Result<std::string> table = events_table(r->body);
  if (!table) return fail(kExitFailed, table.message());
  return write_stdout(*table);
}

}  // namespace hato::cli
