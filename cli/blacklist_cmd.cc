// blacklist_cmd.cc - `hato blacklist status|check` over the admin API.
//
// --json prints the daemon's lines as they come; the table is for people. Reasons and
// errors come from the lists' DNS: control characters are blanked before a terminal
// sees them.
#include "cli/blacklist_cmd.h"
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

constexpr char kUsage[] = "usage: hato blacklist status [--json] | hato blacklist check [--json]\n";

int usage_error(const std::string& message) {
  return fail(kExitUsage, message + " (usage: hato blacklist status|check [--json])");
}

}  // namespace

Result<std::string> blacklist_table(std::string_view json_lines, bool* listed) {
  std::vector<std::vector<std::string>> lists = {
      {"ADDRESS/DOMAIN", "ZONE", "STATE", "SINCE", "LAST CHECKED", "ROTATION"}};
  std::vector<std::vector<std::string>> ptrs = {{"ADDRESS", "REVERSE DNS", "STATE"}};
  std::string notes;
  bool any_listed = false;
  Result<std::vector<JsonValue>> entries = read_json_lines(json_lines);
  if (!entries) return entries.status();
  for (const JsonValue& v : *entries) {
    std::string check = v["check"].text;
    if (check == "ptr") {
      std::string names;
      for (const auto& n : v["ptr"].items) names += (names.empty() ? "" : ", ") + printable(n.text);
      std::string state = v["last_checked"].is_null()      ? "not checked yet"
                          : v["forward_confirmed"].boolean ? "ok (points back)"
                                                           : "PROBLEM";
      ptrs.push_back({printable(v["address"].text), names.empty() ? "-" : names, state});
      if (!v["error"].is_null())
        notes +=
            printable(v["address"].text) + " reverse DNS: " + printable(v["error"].text) + "\n";
      continue;
    }
    bool domain = check == "dbl";
    std::string subject = printable(domain ? v["domain"].text : v["address"].text);
    if (subject.empty()) return Result<std::string>::error("unreadable answer from the daemon");
    // "since" is set once the list has answered; a lookup that failed sets only the error.
    bool answered = !v["since"].is_null();
    std::string state = v["last_checked"].is_null() ? "not checked yet"
                        : !answered                 ? "ERROR"
                        : v["listed"].boolean       ? "LISTED"
                                                    : "clean";
    if (answered && !v["error"].is_null()) state += " (last check failed)";
    if (v["listed"].boolean) {
      any_listed = true;
      notes += subject + " on " + printable(v["zone"].text) + ": " +
               cell(v["reason"], "(no reason given)") + "\n";
    }
    if (!v["error"].is_null()) {
      notes += subject + " on " + printable(v["zone"].text) +
               " (error): " + printable(v["error"].text) + "\n";
    }
    std::string rotation = domain ? "-" : v["in_rotation"].boolean ? "in" : "OUT";
    lists.push_back({subject, printable(v["zone"].text), state, cell(v["since"], "-"),
                     cell(v["last_checked"], "-"), rotation});
  }
  if (listed) *listed = any_listed;
  std::string out;
  if (lists.size() > 1) out += render_table(lists);
  if (ptrs.size() > 1) out += (out.empty() ? "" : "\n") + render_table(ptrs);
  if (out.empty()) out = "Nothing to watch: no egress addresses with zones, no domain zones.\n";
  if (!notes.empty()) out += "\n" + notes;
  return out;
}

int blacklist_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty()) return usage_error("blacklist needs a command");
  if (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  bool check = args[0] == "check";
  if (!check && args[0] != "status") return usage_error("unknown blacklist command: " + args[0]);
  bool json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] != "--json") return usage_error("blacklist " + args[0] + ": unexpected " + args[i]);
    json = true;
  }

  AdminResponse answer;
  if (int status = admin_call(config.admin.socket, check,
                              check ? "/v1/blacklist/check" : "/v1/blacklist", &answer))
    return status;
  bool listed = false;
  Result<std::string> table = blacklist_table(answer.body, &listed);
  if (!table) return fail(kExitFailed, table.message());
  int status = write_stdout(json ? answer.body : *table);
  if (status != kExitOk) return status;
  return check && listed ? kExitFailed : kExitOk;
}

}  // namespace hato::cli
