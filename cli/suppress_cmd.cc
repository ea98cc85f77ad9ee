// suppress_cmd.cc - `hato suppress ...` over the admin API (suppress_cmd.h).
#include "cli/suppress_cmd.h"

#include <event2/http.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"
#include "common/log.h"
#include "policy/suppression.h"

namespace hato::cli {

namespace {

constexpr char kUsage[] =
    "usage: hato suppress ls [--domain D] [--json]\n"
    "       hato suppress add ADDRESS [--reason R] [--domain D]\n"
    "       hato suppress remove ADDRESS [--domain D]\n"
    "       hato suppress import FILE.csv\n"
    "       hato suppress export\n";

int usage_error(const std::string& message) {
  return fail(kExitUsage, message + " (usage: hato suppress ls|add|remove|import|export)");
}

std::string url_encode(const std::string& s) {
  char* encoded = evhttp_uriencode(s.data(), static_cast<ev_ssize_t>(s.size()), 0);
  if (!encoded) return s;
  std::string out(encoded);
  std::free(encoded);
  return out;
}

int call(const conf::Config& config, bool post, const std::string& path, AdminResponse* out) {
  return admin_call(config.admin.socket, post, path, out);
}

// Options after the operands: --json (a flag) and the valued ones in `valued`.
struct Options {
  std::vector<std::string> operands;
  std::string domain, reason;
  bool has_domain = false, json = false;
};

bool parse_options(const std::vector<std::string>& args, bool allow_json, bool allow_reason,
                   Options* o, std::string* error) {
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json" && allow_json) {
      o->json = true;
    } else if ((a == "--domain" || (a == "--reason" && allow_reason)) && i + 1 < args.size()) {
      (a == "--domain" ? o->domain : o->reason) = args[++i];
      if (a == "--domain") o->has_domain = true;
    } else if (!a.starts_with("--")) {
      o->operands.push_back(a);
    } else {
      *error = "suppress " + args[0] + ": unexpected " + a;
      return false;
    }
  }
  return true;
}

int list(const conf::Config& config, const Options& o) {
  std::string path = "/v1/suppress";
  if (o.has_domain) path += "?domain=" + url_encode(o.domain);
  AdminResponse r;
  if (int status = call(config, false, path, &r)) return status;
  if (o.json) return write_stdout(r.body);
  Result<std::vector<JsonValue>> entries = read_json_lines(r.body);
  if (!entries) return fail(kExitFailed, entries.message());
  if (entries->empty()) return write_stdout("Nothing is suppressed.\n");
  std::vector<std::vector<std::string>> rows = {
      {"ADDRESS", "DOMAIN", "REASON", "SOURCE", "SINCE", "EXPIRES"}};
  for (const JsonValue& e : *entries) {
    rows.push_back({printable(e.str("address")),
                    e.str("domain").empty() ? "*" : printable(e.str("domain")),
                    printable(e.str("reason")), printable(e.str("source")),
                    printable(e.str("first_seen")), cell(e["expires"], "never")});
  }
  return write_stdout(render_table(rows));
}

std::string add_path(const policy::SuppressionEntry& e, bool with_times) {
  std::string path = "/v1/suppress?address=" + url_encode(e.address) +
                     "&domain=" + url_encode(e.domain) + "&source=" + url_encode(e.source);
  if (!e.reason.empty()) path += "&reason=" + url_encode(e.reason);
  if (with_times) {
    path += "&first_seen=" + std::to_string(e.first_seen_ms);
    if (e.expires_ms) path += "&expires=" + std::to_string(e.expires_ms);
  }
  return path;
}

int import_file(const conf::Config& config, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(kExitUsage, "cannot read " + file);
  std::vector<policy::SuppressionEntry> entries;
  std::string line;
  int64_t now = log::now_ms();
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (n == 1 && line.starts_with("address,")) continue;  // the header
    auto e = policy::parse_suppression_csv(line, now);
    if (!e) return fail(kExitUsage, file + ":" + std::to_string(n) + ": " + e.message());
    entries.push_back(std::move(e).value());
  }
  for (const auto& e : entries) {
    AdminResponse r;
    if (int status = call(config, true, add_path(e, true), &r)) return status;
  }
  return write_stdout("imported " + std::to_string(entries.size()) + " entries\n");
}

int export_csv(const conf::Config& config) {
  AdminResponse r;
  if (int status = call(config, false, "/v1/suppress", &r)) return status;
  Result<std::vector<JsonValue>> entries = read_json_lines(r.body);
  if (!entries) return fail(kExitFailed, entries.message());
  std::string out(policy::suppression_csv_header());
  out += "\r\n";  // RFC 4180 lines
  for (const JsonValue& e : *entries) {
    out += policy::csv_row({e.str("address"), e.str("domain"), e.str("reason"), e.str("source"),
                            e.str("first_seen"), e.str("expires")});
    out += "\r\n";
  }
  return write_stdout(out);
}

}  // namespace

int suppress_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty()) return usage_error("suppress needs a command");
  const std::string& verb = args[0];
  if (verb == "help" || verb == "--help" || verb == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  Options o;
  std::string error;
  bool ok = parse_options(args, verb == "ls", verb == "add", &o, &error);
  if (!ok) return usage_error(error);
  if (verb == "ls") {
    if (!o.operands.empty()) return usage_error("suppress ls: unexpected " + o.operands[0]);
    return list(config, o);
  }
  if (verb == "export") {
    if (!o.operands.empty() || o.has_domain)
      return usage_error("suppress export takes no arguments");
    return export_csv(config);
  }
  if (o.operands.size() != 1) return usage_error("suppress " + verb + " needs one argument");
  if (verb == "import") {
    if (o.has_domain) return usage_error("suppress import: the domain is a column of the file");
    return import_file(config, o.operands[0]);
  }
  if (verb == "add") {
    policy::SuppressionEntry e;
    e.address = o.operands[0];
    e.domain = o.domain;
    e.reason = o.reason;
    e.source = "manual";
    AdminResponse r;
    if (int status = call(config, true, add_path(e, false), &r)) return status;
    return write_stdout("suppressed " + e.address + "\n");
  }
  if (verb == "remove") {
    std::string path = "/v1/suppress/remove?address=" + url_encode(o.operands[0]);
    if (o.has_domain) path += "&domain=" + url_encode(o.domain);
    AdminResponse r;
    if (int status = call(config, true, path, &r)) return status;
    return write_stdout("removed " + o.operands[0] + "\n");
  }
  return usage_error("unknown suppress command: " + verb);
}

}  // namespace hato::cli
