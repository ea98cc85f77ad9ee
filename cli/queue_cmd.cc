// queue_cmd.cc - the queue verbs over the admin API.
//
// --json prints the daemon's JSON as it comes; the human forms parse it and
// lay it out like Postfix's mailq. Text that came from remote servers (replies,
// headers) has its control characters blanked before it reaches a terminal.
#include "cli/queue_cmd.h"
#include "cli/output.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>

#include "cli/admin_client.h"
#include "common/json.h"
#include "common/strings.h"

namespace hato::cli {

namespace {

constexpr const char kUsage[] =
    "usage: hato queue ls [--json] [--domain D] [--state queued|deferred|held] [--limit N]\n"
    "       hato queue show ID [--json]\n"
    "       hato queue cat ID\n"
    "       hato queue tail [--json]\n"
    "       hato queue summary [--json] [--state queued|deferred|held]\n"
    "       hato queue summary --cluster [--json]\n"
    "       hato queue flush [ID...|--domain D]\n"
    "       hato queue hold|release|delete|bounce ID...\n";

// Exit statuses of INTERFACE.md.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoDaemon = 3;

// One line, as for every error; the full usage is one command away.
int usage_error(std::string_view message) {
  return fail(kExitUsage, std::string(message) + " (see hato queue help)");
}

// JSON from the admin API is read with common/json.h.
using Json = JsonValue;

// ---------------------------------------------------------------------------
// Arguments.

struct Args {
  std::vector<std::string> operands;
  std::vector<std::pair<std::string, std::string>> options;  // {"--limit", "10"}
  bool has(std::string_view name) const {
    for (const auto& [k, v] : options) {
      if (k == name) return true;
    }
    return false;
  }
  // The last value given for `name`: later words override earlier ones.
  std::optional<std::string> value(std::string_view name) const {
    std::optional<std::string> out;
    for (const auto& [k, v] : options) {
      if (k == name) out = v;
    }
    return out;
  }
};

bool contains(std::initializer_list<std::string_view> list, std::string_view word) {
  for (std::string_view w : list) {
    if (w == word) return true;
  }
  return false;
}

// parse_args - splits the words after the verb into options and operands
Result<Args> parse_args(const std::vector<std::string>& words, std::string_view verb,
                        std::initializer_list<std::string_view> flags,
                        std::initializer_list<std::string_view> valued) {
  Args out;
  bool options_done = false;
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (options_done || w.size() < 2 || w[0] != '-') {
      out.operands.push_back(w);
      continue;
    }
    if (w == "--") {
      options_done = true;
      continue;
    }
    size_t eq = w.find('=');
    std::string name = w.substr(0, eq);
    if (contains(flags, name) && eq == std::string::npos) {
      out.options.emplace_back(name, "");
    } else if (contains(valued, name)) {
      if (eq != std::string::npos) {
        out.options.emplace_back(name, w.substr(eq + 1));
      } else if (i + 1 < words.size()) {
        out.options.emplace_back(name, words[++i]);
      } else {
        return Result<Args>::error("queue " + std::string(verb) + ": " + name + " needs a value");
      }
    } else {
      return Result<Args>::error("queue " + std::string(verb) + ": unknown option " + w);
    }
  }
  return out;
}

// Percent-encodes a query value; only unreserved characters (RFC 3986) stay.
std::string url_encode(std::string_view s) {
  return percent_encode(s, "-._~");
}

// ---------------------------------------------------------------------------
// Talking to the daemon, writing the answer.

std::string socket_path(const conf::Config& config) {
  if (!config.admin.socket.empty()) return config.admin.socket;
  return config.data_dir + "/admin.sock";  // the documented default
}

// The daemon's reason for an answer other than 200.
std::string error_reason(const AdminResponse& response) {
  std::string reason;
  if (std::optional<Json> body = parse_json(response.body)) {
    reason = body->str("error");
  }
  if (reason.empty()) reason = "the daemon answered HTTP " + std::to_string(response.status);
  return reason;
}

// Exit status for an answer other than 200: 400 means we asked for something
// the daemon cannot take, a usage error.
int status_for(const AdminResponse& response) {
  return response.status == 400 ? kExitUsage : kExitFailed;
}

// request - GETs (or POSTs) `path`; on anything but 200 says why and returns the exit status
int request(const conf::Config& config, const std::string& path, AdminResponse* response,
            bool post = false) {
  bool unreachable = false;
  Result<AdminResponse> r = post ? admin_post(socket_path(config), path, &unreachable)
                                 : admin_get(socket_path(config), path, &unreachable);
  if (!r) return fail(unreachable ? kExitNoDaemon : kExitFailed, r.message());
  *response = std::move(r).value();
  if (response->status == 200) return kExitOk;
  return fail(status_for(*response), error_reason(*response));
}

// Splits a streamed body into lines, whatever the pieces it arrives in.
class LineSplitter {
 public:
  explicit LineSplitter(std::function<bool(std::string_view)> on_line)
      : on_line_(std::move(on_line)) {}
  // For admin_stream(): false once a line handler said stop.
  bool feed(std::string_view piece) {
    partial_ += piece;
    size_t start = 0;
    for (size_t eol; (eol = partial_.find('\n', start)) != std::string::npos; start = eol + 1) {
      if (!on_line_(std::string_view(partial_).substr(start, eol - start))) return false;
    }
    partial_.erase(0, start);
    return true;
  }
  // A last line without its newline (a daemon that died mid-line) still counts.
  bool finish() {
    if (partial_.empty()) return true;
    std::string last = std::move(partial_);
    partial_.clear();
    return on_line_(last);
  }

 private:
  std::function<bool(std::string_view)> on_line_;
  std::string partial_;
};

// stream - GETs `path` and passes each line of a 200 answer to `on_line`;
// returns the exit status (0 when the answer ended normally).
int stream(const conf::Config& config, const std::string& path, bool follow,
           const std::function<bool(std::string_view)>& on_line) {
  LineSplitter lines(on_line);
  bool unreachable = false;
  bool stopped = false;
  Result<AdminResponse> r = admin_stream(
      socket_path(config), path,
      [&](std::string_view piece) {
        if (lines.feed(piece)) return true;
        stopped = true;
        return false;
      },
      follow, &unreachable);
  if (!r) return fail(unreachable ? kExitNoDaemon : kExitFailed, r.message());
  if (r->status != 200) return fail(status_for(*r), error_reason(*r));
  if (!stopped && !lines.finish()) stopped = true;
  return stopped ? kExitFailed : kExitOk;
}

// Columns a string takes on a terminal, counting each UTF-8 sequence as one.
size_t display_width(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// "2026-11-28T07:00:00.123Z" -> "2026-11-28 07:00:00" (still UTC).
std::string short_time(const std::string& rfc3339) {
  if (rfc3339.size() < 19 || rfc3339[10] != 'T') return rfc3339;
  std::string out = rfc3339.substr(0, 19);
  out[10] = ' ';
  return out;
}

std::string angle(const std::string& address) {
  return "<" + printable(address) + ">";
}

// `text` padded with blanks to `width` columns (longer text is left whole).
std::string pad(std::string text, size_t width) {
  size_t w = display_width(text);
  if (w < width) text.append(width - w, ' ');
  return text;
}

std::string pad_left(const std::string& text, size_t width) {
  size_t w = display_width(text);
  return w < width ? std::string(width - w, ' ') + text : text;
}

// Rows of aligned columns, written as they come: the first rows (up to
// kWidthRows) set the widths, so a listing of a million messages needs
// neither a million rows in memory nor a wait for the last one.
class TableWriter {
 public:
  static constexpr size_t kWidthRows = 1000;

  // `right`: the column that reads best right-aligned (a size), or -1.
  TableWriter(std::vector<std::string> header, int right) : right_(right) {
    rows_.push_back(std::move(header));
  }

  int add(std::vector<std::string> row) {
    rows_.push_back(std::move(row));
    if (widths_.empty() && rows_.size() <= kWidthRows) return kExitOk;
    return flush();
  }

  int finish() { return flush(true); }

 private:
  int flush(bool last = false) {
    if (widths_.empty()) {
      widths_.assign(rows_[0].size(), 0);
      for (const auto& row : rows_) {
        for (size_t i = 0; i < row.size(); ++i) {
          widths_[i] = std::max(widths_[i], display_width(row[i]));
        }
      }
    }
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) {
        bool final_column = i + 1 == row.size();
        if (static_cast<int>(i) == right_) {
          out_ += pad_left(row[i], widths_[i]);
        } else {
          out_ += final_column ? row[i] : pad(row[i], widths_[i]);
        }
        out_ += final_column ? "\n" : "  ";
      }
    }
    rows_.clear();
    if (!last && out_.size() < 64 * 1024) return kExitOk;
    int status = write_stdout(out_);
    out_.clear();
    return status;
  }

  const int right_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<size_t> widths_;
  std::string out_;
};

// ---------------------------------------------------------------------------
// The verbs.

// ls_query - the query string of `queue ls`'s options (--limit also into `limit`, 0: none);
// an error names the option that is wrong
Result<std::string> ls_query(const Args& args, uint64_t* limit) {
  std::string query;
  auto add = [&](const char* key, const std::string& value) {
    query += query.empty() ? '?' : '&';
    query += key;
    query += '=';
    query += url_encode(value);
  };
  if (std::optional<std::string> text = args.value("--limit")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), *limit);
    if (ec != std::errc() || end != text->data() + text->size() || *limit == 0) {
      return Result<std::string>::error("queue ls: --limit needs a positive number, not " + *text);
    }
    add("limit", std::to_string(*limit));
  }
  if (std::optional<std::string> state = args.value("--state")) {
    if (*state != "queued" && *state != "deferred" && *state != "held") {
      return Result<std::string>::error("queue ls: --state is queued, deferred or held, not " +
                                        *state);
    }
    add("state", *state);
  }
  if (std::optional<std::string> domain = args.value("--domain")) add("domain", *domain);
  return query;
}

// ls_row - the table row of one message of the listing; its size is added to `total_size`
std::vector<std::string> ls_row(const Json& m, uint64_t* total_size) {
  const Json& to = m["to"];
  std::string rcpts = to.items.empty() ? "-" : angle(to.items[0].text);
  if (to.items.size() > 1) rcpts += " +" + std::to_string(to.items.size() - 1);
  uint64_t size = 0;
  const std::string& size_text = m.str("size");
  std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
  *total_size += size;
  return {printable(m.str("id")),
          size_text,
          short_time(m.str("created")),
          printable(m.str("state")),
          angle(m.str("from")),
          rcpts,
          printable(m.str("last_response"))};
}

int queue_ls(const std::vector<std::string>& words, const conf::Config& config) {
  Result<Args> args = parse_args(words, "ls", {"--json"}, {"--domain", "--state", "--limit"});
  if (!args) return usage_error(args.message());
  if (!args->operands.empty()) return usage_error("queue ls: unexpected " + args->operands[0]);
  uint64_t limit = 0;  // 0: none
  Result<std::string> query = ls_query(*args, &limit);
  if (!query) return usage_error(query.message());

  const bool json = args->has("--json");
  // One row per message; the header row sets the minimum widths.
  TableWriter table({"ID", "SIZE", "CREATED", "STATE", "FROM", "TO", "LAST RESPONSE"}, 1);
  std::string out;  // --json lines not yet written
  uint64_t count = 0, total_size = 0;
  std::string daemon_error;  // a listing that failed half-way ends with {"error":...}
  int write_status = kExitOk;

  int status = stream(config, "/v1/queue" + *query, /*follow=*/false, [&](std::string_view line) {
    if (line.empty()) return true;
    if (line.starts_with("{\"error\":")) {
      if (std::optional<Json> e = parse_json(line)) daemon_error = e->str("error");
      return true;
    }
    ++count;
    if (json) {
      out.append(line);
      out += '\n';
      if (out.size() >= 64 * 1024) {
        write_status = write_stdout(out);
        out.clear();
      }
      return write_status == kExitOk;
    }
    std::optional<Json> m = parse_json(line);
    if (!m) {
      daemon_error = "unreadable answer from the daemon";
      return false;
    }
    write_status = table.add(ls_row(*m, &total_size));
    return write_status == kExitOk;
  });
  if (write_status != kExitOk) return write_status;
  if (status != kExitOk && daemon_error.empty()) return status;

  if (json) {
    if (int s = write_stdout(out)) return s;
  } else if (count == 0 && daemon_error.empty()) {
    bool filtered = args->has("--domain") || args->has("--state");
    return write_stdout(filtered ? "No queued messages match.\n" : "The queue is empty.\n");
  } else {
    if (int s = table.finish()) return s;
    std::string footer = "-- " + std::to_string(count) +
                         (count == 1 ? " message, " : " messages, ") + std::to_string(total_size) +
                         " bytes";
    if (count == limit) footer += " (--limit reached; there may be more)";
    footer += '\n';
    if (int s = write_stdout(footer)) return s;
  }
  if (!daemon_error.empty()) return fail(kExitFailed, daemon_error);
  return kExitOk;
}

int queue_show(const std::vector<std::string>& words, const conf::Config& config) {
  Result<Args> args = parse_args(words, "show", {"--json"}, {});
  if (!args) return usage_error(args.message());
  if (args->operands.size() != 1) return usage_error("queue show needs exactly one ID");
  const std::string& id = args->operands[0];
  const std::string base = "/v1/queue/" + url_encode(id);

  AdminResponse response;
  if (int status = request(config, base, &response)) return status;
  if (args->has("--json")) return write_stdout(response.body);

  std::optional<Json> m = parse_json(response.body);
  if (!m) return fail(kExitFailed, "unreadable answer from the daemon");
  std::string out;
  auto line = [&out](std::string_view label, const std::string& value) {
    out += "  ";
    out += label;
    out.append(label.size() < 14 ? 14 - label.size() : 1, ' ');
    out += value;
    out += '\n';
  };
  out += printable(m->str("id")) + "  " + printable(m->str("state")) + "\n";
  line("from:", angle(m->str("from")));
  line("created:", short_time(m->str("created")) + " UTC");
  line("next attempt:",
       m->str("state") == "held" ? "none while held" : short_time(m->str("next_attempt")) + " UTC");
  line("size:", m->str("size") + " bytes");
  if (!m->str("client").empty()) line("client:", printable(m->str("client")));
  if (!m->str("listener").empty()) line("listener:", printable(m->str("listener")));
  if (!m->str("auth_user").empty()) line("auth user:", printable(m->str("auth_user")));
  if (!m->str("envid").empty()) line("envid:", printable(m->str("envid")));
  if (!m->str("ret").empty()) line("ret:", printable(m->str("ret")));

  out += "recipients:\n";
  for (const Json& r : (*m)["recipients"].items) {
    out += "  " + angle(r.str("rcpt")) + "  " + printable(r.str("state")) + "\n";
    for (const Json& a : r["attempts"].items) {
      out += "    " + short_time(a.str("time")) + "  " + printable(a.str("host")) + "  " +
             printable(a.str("response")) + "\n";
      // Which TLS policy applied and what was negotiated (issue 14).
      if (!a.str("tls_policy").empty()) {
        std::string tls = a.str("tls_version").empty()
                              ? std::string("no TLS")
                              : a.str("tls_version") + " " + a.str("tls_cipher");
        out += "      tls: " + printable(a.str("tls_policy")) + ", " + printable(tls) + "\n";
      }
      // What the failure means (issue 21).
      if (!a.str("category").empty())
        out += "      category: " + printable(a.str("category")) + "\n";
    }
  }

  // Headers are a second request; a message gone in between just lacks them.
  Result<AdminResponse> h = admin_get(socket_path(config), base + "/headers");
  if (h && h->status == 200) {
    out += "headers:\n";
    std::string_view text = h->body;
    while (!text.empty()) {
      size_t eol = text.find('\n');
      std::string_view hl = text.substr(0, eol);
      text = eol == std::string_view::npos ? "" : text.substr(eol + 1);
      if (hl.ends_with('\r')) hl.remove_suffix(1);
      // Folded lines keep their leading white space, now a blank.
      out += "  " + printable(hl) + "\n";
    }
  }
  return write_stdout(out);
}

int queue_cat(const std::vector<std::string>& words, const conf::Config& config) {
  Result<Args> args = parse_args(words, "cat", {}, {});
  if (!args) return usage_error(args.message());
  if (args->operands.size() != 1) return usage_error("queue cat needs exactly one ID");
  AdminResponse response;
  if (int status =
          request(config, "/v1/queue/" + url_encode(args->operands[0]) + "/message", &response)) {
    return status;
  }
  return write_stdout(response.body);  // the bytes as stored, nothing added
}

// The human form of one `queue tail` event: time, event, ID, recipient, response.
std::string tail_line(const Json& e) {
  std::string time = e.str("time");
  // "2026-11-28T07:00:00.123Z" -> "2026-11-28 07:00:00.123"
  if (time.size() >= 23 && time[10] == 'T') {
    time = time.substr(0, 23);
    time[10] = ' ';
  }
  const std::string& event = e.str("event");
  std::string out = pad(printable(time), 23) + "  " + pad(printable(event), 9) + "  ";
  if (event == "missed") {
    return out + e["count"].text + " events not shown: this watcher fell behind\n";
  }
  std::string rcpt = e.str("rcpt").empty() ? "-" : angle(e.str("rcpt"));
  out +=
      pad(printable(e.str("id")), 16) + "  " + pad(rcpt, 30) + "  " + printable(e.str("response"));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "\n";
}

int queue_tail(const std::vector<std::string>& words, const conf::Config& config) {
  Result<Args> args = parse_args(words, "tail", {"--json"}, {});
  if (!args) return usage_error(args.message());
  if (!args->operands.empty()) return usage_error("queue tail: unexpected " + args->operands[0]);
  const bool json = args->has("--json");
  int write_status = kExitOk;
  // Each line is written at once: a pipe reader sees events as they happen.
  int status = stream(config, "/v1/events", /*follow=*/true, [&](std::string_view line) {
    if (line.empty()) return true;
    if (json) {
      write_status = write_stdout(std::string(line) + "\n");
    } else if (std::optional<Json> e = parse_json(line)) {
      write_status = write_stdout(tail_line(*e));
    }
    return write_status == kExitOk;
  });
  if (write_status != kExitOk) return write_status;
  if (status != kExitOk) return status;
  // Only the daemon ends the stream, when it stops.
  return fail(kExitNoDaemon, "the daemon closed the event stream (did it stop?)");
}

// `queue summary --cluster`: every live node's queue counts, as its last heartbeat to redis
// gave them (GET /v1/cluster; policy/cluster.h).
int cluster_summary(const conf::Config& config, bool json) {
  AdminResponse response;
  if (int status = request(config, "/v1/cluster", &response)) return status;
  if (json) return write_stdout(response.body + "\n");
  std::optional<Json> nodes = parse_json(response.body);
  if (!nodes || nodes->kind != Json::Kind::kArray)
    return fail(kExitFailed, "unreadable answer from the daemon");
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "HOSTNAME", "WAITING", "ACTIVE", "HELD", "REDIS", "SEEN"}};
  for (const Json& n : nodes->items) {
    const Json& q = n["queue"];
    rows.push_back({printable(n.str("node")), printable(n.str("hostname")), q.str("waiting"),
                    q.str("active"), q.str("held"),
                    n["cluster"]["connected"].boolean ? "sharing" : "unreachable",
                    printable(n.str("time"))});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) out += ' ';
      out += row[i] + std::string(widths[i] - display_width(row[i]), ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  out += "-- " + std::to_string(nodes->items.size()) + " live nodes\n";
  return write_stdout(out);
}

int queue_summary(const std::vector<std::string>& words, const conf::Config& config) {
  Result<Args> args = parse_args(words, "summary", {"--json", "--cluster"}, {"--state"});
  if (!args) return usage_error(args.message());
  if (!args->operands.empty()) {
    return usage_error("queue summary: unexpected " + args->operands[0]);
  }
  if (args->has("--cluster")) {
    if (args->value("--state")) return usage_error("queue summary: --cluster takes no --state");
    return cluster_summary(config, args->has("--json"));
  }
  std::string path = "/v1/queue/summary";
  if (std::optional<std::string> state = args->value("--state")) {
    if (*state != "queued" && *state != "deferred" && *state != "held") {
      return usage_error("queue summary: --state is queued, deferred or held, not " + *state);
    }
    path += "?state=" + *state;
  }
  AdminResponse response;
  if (int status = request(config, path, &response)) return status;
  if (args->has("--json")) return write_stdout(response.body);

  std::optional<Json> s = parse_json(response.body);
  if (!s) return fail(kExitFailed, "unreadable answer from the daemon");
  // qshape's layout: a domain column, the total, then one column per age
  // bucket headed by its upper bound in minutes.
  std::vector<std::string> header = {"", "T"};
  for (const Json& b : (*s)["buckets"].items) {
    std::string label = b.text;  // "0-5m", ..., "1280m+"
    if (size_t dash = label.find('-'); dash != std::string::npos) label.erase(0, dash + 1);
    if (label.ends_with('m')) label.pop_back();
    if (label.ends_with("m+")) label.erase(label.size() - 2, 1);
    header.push_back(label);
  }
  std::vector<std::vector<std::string>> rows = {header};
  auto add_row = [&rows](const std::string& name, const Json& row) {
    std::vector<std::string> cells = {printable(name), row["messages"].text};
    for (const Json& c : row["counts"].items) cells.push_back(c.text);
    rows.push_back(std::move(cells));
  };
  const Json& total = (*s)["total"];
  add_row("TOTAL", total);
  for (const Json& d : (*s)["domains"].items) add_row(d.str("domain"), d);

  std::vector<size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      if (i) out += ' ';
      out += pad_left(row[i], widths[i] + (i ? 1 : 0));
    }
    out += '\n';
  }
  out += "-- " + total["messages"].text + " messages (" + total["queued"].text + " queued, " +
         total["deferred"].text + " deferred, " + total["held"].text + " held), " +
         total["recipients"].text + " pending recipients; ages in minutes\n";
  return write_stdout(out);
}

// "hold" -> "held" etc., for the line that says what was done.
const char* past_tense(std::string_view verb) {
  if (verb == "hold") return "held";
  if (verb == "release") return "released";
  if (verb == "delete") return "deleted";
  if (verb == "bounce") return "bounced";
  return "flushed";
}

// queue flush|hold|release|delete|bounce: one POST per ID, as postsuper does.
int queue_action(const std::vector<std::string>& words, const conf::Config& config,
                 const std::string& verb) {
  const bool flush = verb == "flush";
  Result<Args> args =
      flush ? parse_args(words, verb, {}, {"--domain"}) : parse_args(words, verb, {}, {});
  if (!args) return usage_error(args.message());

  AdminResponse response;
  if (flush && (args->has("--domain") || args->operands.empty())) {
    if (!args->operands.empty()) return usage_error("queue flush takes IDs or --domain, not both");
    std::string path = "/v1/queue/flush";
    std::string what = "deferred messages";
    if (std::optional<std::string> domain = args->value("--domain")) {
      if (domain->empty()) return usage_error("queue flush: --domain needs a domain");
      path += "?domain=" + url_encode(*domain);
      what = "messages for " + printable(*domain);
    }
    if (int status = request(config, path, &response, /*post=*/true)) return status;
    std::optional<Json> r = parse_json(response.body);
    std::string n = r ? (*r)["flushed"].text : "";
    return write_stdout("flushed " + (n.empty() ? "the" : n) + " " + what + "\n");
  }
  if (args->operands.empty()) return usage_error("queue " + verb + " needs at least one ID");

  size_t done = 0, failed = 0;
  for (const std::string& id : args->operands) {
    bool unreachable = false;
    Result<AdminResponse> r =
        admin_post(socket_path(config), "/v1/queue/" + url_encode(id) + "/" + verb, &unreachable);
    // Without a daemon nothing else will work either: one line, not one per ID.
    if (!r && unreachable) return fail(kExitNoDaemon, r.message());
    if (!r) {
      fail(kExitFailed, "queue " + verb + " " + printable(id) + ": " + r.message());
      ++failed;
      continue;
    }
    if (r->status != 200) {
      std::string reason = error_reason(*r);
      // The daemon's reason names the ID already; say it only when it does not.
      if (reason.find(id) == std::string::npos) reason = printable(id) + ": " + reason;
      fail(kExitFailed, "queue " + verb + ": " + reason);
      ++failed;
      continue;
    }
    ++done;
  }
  if (done > 0) {
    if (int s = write_stdout(std::string(past_tense(verb)) + " " + std::to_string(done) +
                             (done == 1 ? " message\n" : " messages\n"))) {
      return s;
    }
  }
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

int queue_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty()) return usage_error("queue needs a command");
  const std::string& verb = args[0];
  if (verb == "help" || verb == "--help" || verb == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (verb == "ls") return queue_ls(args, config);
  if (verb == "show") return queue_show(args, config);
  if (verb == "cat") return queue_cat(args, config);
  if (verb == "tail") return queue_tail(args, config);
  if (verb == "summary") return queue_summary(args, config);
  for (const char* action : {"flush", "hold", "release", "delete", "bounce"}) {
    if (verb == action) return queue_action(args, config, verb);
  }
  return usage_error("unknown queue command: " + verb);
}

}  // namespace hato::cli
