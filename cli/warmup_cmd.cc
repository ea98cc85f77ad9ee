// warmup_cmd.cc - `hato warmup status` over the admin API.
//
// --json prints the daemon's lines as they come (policy/limiter.h documents them); the
// table is for people. Reasons are remote servers' words: control characters are
// blanked before they reach a terminal.
#include "cli/warmup_cmd.h"
#include "cli/output.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "common/json.h"

namespace hato::cli {

namespace {

constexpr char kUsage[] = "usage: hato warmup status [--json] [--cluster]\n";

int usage_error(const std::string& message) {
  return fail(kExitUsage, message + " (usage: hato warmup status [--json] [--cluster])");
}

// The table of one node's egress addresses (each an object of limiter.h's status_json).
Result<std::string> egress_table(const std::vector<JsonValue>& entries) {
  std::vector<std::vector<std::string>> rows = {
      {"ADDRESS", "HELO", "WEIGHT", "DAY", "LIMIT", "SENT", "STATE"}};
  std::string notes;
  for (const JsonValue& entry : entries) {
    const JsonValue* e = &entry;
    if (e->kind != JsonValue::Kind::kObject || (*e)["address"].text.empty())
      return Result<std::string>::error("unreadable answer from the daemon");
    const std::string address = printable((*e)["address"].text);
    std::string limit = cell((*e)["allowance"], "none");
    if ((*e)["per_provider"].boolean && limit != "none") limit += " per provider";
    std::vector<std::string> state;
    if (!(*e)["out_of_rotation"].is_null()) {
      state.push_back("out of rotation (blacklisted)");
      notes += address + " out of rotation: " + printable((*e)["out_of_rotation"].text) + "\n";
    }
    for (const auto& s : (*e)["suspensions"].items) {
      state.push_back("suspended for " + printable(s["provider"].text));
      notes += address + " suspended for " + printable(s["provider"].text) + " until " +
               printable(s["until"].text) + ": " + printable(s["reason"].text) + "\n";
    }
    for (const auto& s : (*e)["slowdowns"].items) {
      state.push_back("slowed for " + printable(s["provider"].text));
      notes += address + " slowed to " + printable(s["rate"].text) + " for " +
               printable(s["provider"].text) + " until " + printable(s["until"].text) + ": " +
               printable(s["reason"].text) + "\n";
    }
    std::string state_text = "sending";
    if (!state.empty()) {
      state_text.clear();
      for (const auto& s : state) state_text += (state_text.empty() ? "" : ", ") + s;
    }
    rows.push_back({address, printable((*e)["helo"].text), cell((*e)["weight"], "-"),
                    cell((*e)["day"], "-"), limit, cell((*e)["sent_today"], "0"), state_text});
  }
  if (rows.size() == 1) {
    return std::string(
        "No egress addresses are configured: mail leaves from the system's default address, "
        "without warm-up.\n");
  }
  std::string out = render_table(rows);
  if (!notes.empty()) out += "\n" + notes;
  return out;
}

// `--cluster`: each live node's table under a line naming it (GET /v1/cluster).
Result<std::string> cluster_table(std::string_view body) {
  std::optional<JsonValue> nodes = parse_json(body);
  if (!nodes || nodes->kind != JsonValue::Kind::kArray)
    return Result<std::string>::error("unreadable answer from the daemon");
  std::string out;
  for (const JsonValue& n : nodes->items) {
    const JsonValue& c = n["cluster"];
    out += (out.empty() ? "" : "\n") + printable(n["node"].text) + " (" +
           printable(n["hostname"].text) + ", seen " + printable(n["time"].text) + ", " +
           (c["connected"].boolean ? "sharing" : "redis unreachable") + ", share " +
           printable(c["share"].text) + "):\n";
    Result<std::string> table = egress_table(n["warmup"].items);
    if (!table) return table;
    out += *table;
  }
  return out;
}

}  // namespace

Result<std::string> warmup_table(std::string_view json_lines) {
  Result<std::vector<JsonValue>> entries = read_json_lines(json_lines);
  if (!entries) return entries.status();
  return egress_table(*entries);
}

int warmup_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty()) return usage_error("warmup needs a command");
  if (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (args[0] != "status") return usage_error("unknown warmup command: " + args[0]);
  bool json = false, cluster = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--json") {
      json = true;
    } else if (args[i] == "--cluster") {
      cluster = true;
    } else {
      return usage_error("warmup status: unexpected " + args[i]);
    }
  }

  AdminResponse answer;
  if (int status =
          admin_call(config.admin.socket, false, cluster ? "/v1/cluster" : "/v1/warmup", &answer))
    return status;
  if (json) return write_stdout(answer.body + (cluster ? "\n" : ""));
  Result<std::string> table = cluster ? cluster_table(answer.body) : warmup_table(answer.body);
  if (!table) return fail(kExitFailed, table.message());
  return write_stdout(*table);
}

}  // namespace hato::cli
