// tlsrpt.cc - TLS-RPT records, counts and reports.
#include "policy/tlsrpt.h"

#include <zlib.h>

#include <charconv>
#include <ctime>

#include "common/base64.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"
#include "policy/mail/mime.h"

namespace hato::policy::tlsrpt {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t at = s.find(sep, pos);
    out.push_back(s.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    if (at == std::string_view::npos) break;
    pos = at + 1;
  }
  return out;
}

// Stored fields are tab-separated; these keep tabs, newlines and backslashes out of them.
std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out;
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return std::nullopt;
    switch (s[i]) {
      case '\\':
        out += '\\';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

std::optional<uint64_t> number(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

void json_string(std::string& out, std::string_view s) {
  log::append_json_string(out, s);
}

}  // namespace

std::optional<std::vector<std::string>> parse_txt(const std::vector<std::string>& records) {
  std::optional<std::vector<std::string>> found;
  int ours = 0;
  for (const auto& record : records) {
    auto fields = split(record, ';');
    if (trim(fields[0]) != "v=TLSRPTv1") continue;
    ++ours;
    std::vector<std::string> rua;
    for (size_t i = 1; i < fields.size(); ++i) {
      std::string_view f = trim(fields[i]);
      if (f.substr(0, 4) != "rua=") continue;
      for (auto uri : split(f.substr(4), ',')) {
        uri = trim(uri);
        if (!uri.empty()) rua.emplace_back(uri);
      }
    }
    if (!rua.empty()) found = std::move(rua);
  }
  if (ours != 1) return std::nullopt;
  return found;
}

uint64_t PolicyCounts::failure_total() const {
  uint64_t n = 0;
  for (const auto& f : failures) n += f.count;
  return n;
}

void DayCounts::add(const PolicyKey& policy, const std::string& result_type,
                    const std::string& mx_host, const std::string& ip) {
  PolicyCounts* slot = nullptr;
  for (auto& p : policies)
    if (p.policy == policy) slot = &p;
  if (!slot) {
    policies.push_back({policy, 0, {}});
    slot = &policies.back();
  }
  if (result_type.empty()) {
    ++slot->successes;
    return;
  }
  for (auto& f : slot->failures) {
    if (f.result_type == result_type && f.mx_host == mx_host && f.ip == ip) {
      ++f.count;
      return;
    }
  }
  slot->failures.push_back({result_type, mx_host, ip, 1});
}

std::string encode(const DayCounts& counts) {
  std::string out;
  for (const auto& p : counts.policies) {
    std::string mx;
    for (const auto& m : p.policy.mx) mx += (mx.empty() ? "" : ",") + m;
    out += "P\t" + escape(p.policy.type) + "\t" + escape(p.policy.text) + "\t" + escape(mx) + "\t" +
           std::to_string(p.successes) + "\n";
    for (const auto& f : p.failures)
      out += "F\t" + escape(f.result_type) + "\t" + escape(f.mx_host) + "\t" + escape(f.ip) + "\t" +
             std::to_string(f.count) + "\n";
  }
  return out;
}

std::optional<DayCounts> decode(std::string_view bytes) {
  DayCounts out;
  for (auto line : split(bytes, '\n')) {
    if (line.empty()) continue;
    auto f = split(line, '\t');
    if (f.size() != 5) return std::nullopt;
    auto n = number(f[4]);
    auto a = unescape(f[1]), b = unescape(f[2]), c = unescape(f[3]);
    if (!n || !a || !b || !c) return std::nullopt;
    if (f[0] == "P") {
      PolicyCounts p;
      p.policy.type = *a;
      p.policy.text = *b;
      if (!c->empty())
        for (auto m : split(*c, ',')) p.policy.mx.emplace_back(m);
      p.successes = *n;
      out.policies.push_back(std::move(p));
    } else if (f[0] == "F" && !out.policies.empty()) {
      out.policies.back().failures.push_back({*a, *b, *c, *n});
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string utc_day(int64_t unix_ms) {
  time_t t = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

int64_t day_start_seconds(std::string_view day) {
  struct tm tm = {};
  if (day.size() != 10) return 0;
  auto y = number(day.substr(0, 4)), m = number(day.substr(5, 2)), d = number(day.substr(8, 2));
  if (!y || !m || !d) return 0;
  tm.tm_year = static_cast<int>(*y) - 1900;
  tm.tm_mon = static_cast<int>(*m) - 1;
  tm.tm_mday = static_cast<int>(*d);
  return static_cast<int64_t>(timegm(&tm));
}

std::string report_json(const ReportInfo& info, const DayCounts& counts) {
  std::string out = "{\"organization-name\":";
  json_string(out, info.organization);
  int64_t start = day_start_seconds(info.day);
  out += ",\"date-range\":{\"start-datetime\":";
  json_string(out, info.day + "T00:00:00Z");
  out += ",\"end-datetime\":";
  json_string(out, utc_day((start + 86400) * 1000) + "T00:00:00Z");
  out += "},\"contact-info\":";
  json_string(out, info.contact);
  out += ",\"report-id\":";
  json_string(out, info.report_id);
  out += ",\"policies\":[";
  bool first_policy = true;
  for (const auto& p : counts.policies) {
    if (!first_policy) out += ',';
    first_policy = false;
    out += "{\"policy\":{\"policy-type\":";
    json_string(out, p.policy.type);
    if (!p.policy.text.empty()) {
      // policy-string: the policy's lines (RFC 8460 4.3).
      out += ",\"policy-string\":[";
      bool first = true;
      for (auto line : split(p.policy.text, '\n')) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        if (!first) out += ',';
        first = false;
        json_string(out, line);
      }
      out += ']';
    }
    out += ",\"policy-domain\":";
    json_string(out, info.domain);
    if (!p.policy.mx.empty()) {
      out += ",\"mx-host\":[";
      for (size_t i = 0; i < p.policy.mx.size(); ++i) {
        if (i) out += ',';
        json_string(out, p.policy.mx[i]);
      }
      out += ']';
    }
    out += "},\"summary\":{\"total-successful-session-count\":" + std::to_string(p.successes) +
           ",\"total-failure-session-count\":" + std::to_string(p.failure_total()) + "}";
    if (!p.failures.empty()) {
      out += ",\"failure-details\":[";
      for (size_t i = 0; i < p.failures.size(); ++i) {
        const auto& f = p.failures[i];
        if (i) out += ',';
        out += "{\"result-type\":";
        json_string(out, f.result_type);
        if (!f.ip.empty()) {
          out += ",\"receiving-ip\":";
          json_string(out, f.ip);
        }
        if (!f.mx_host.empty()) {
          out += ",\"receiving-mx-hostname\":";
          json_string(out, f.mx_host);
        }
        out += ",\"failed-session-count\":" + std::to_string(f.count) + "}";
      }
      out += ']';
    }
    out += '}';
  }
  out += "]}";
  return out;
}

namespace {

uint64_t json_count(const JsonValue& v) {
  uint64_t n = 0;
  if (v.kind != JsonValue::Kind::kNumber) return 0;
  auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
  return ec == std::errc() ? n : 0;
}

std::optional<std::string> gunzip(std::string_view in, size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return std::nullopt;  // +32: gzip or zlib header
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_bytes) rc = Z_MEM_ERROR;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

void collect(std::string_view text, size_t max_bytes, int depth, std::vector<std::string>* out) {
  if (depth > 8) return;
  mail::Entity e = mail::split_entity(text);
  std::string mime = e.media_type();
  if (mime.starts_with("multipart/")) {
    for (std::string_view part : mail::multipart_parts(e)) collect(part, max_bytes, depth + 1, out);
    return;
  }
  bool gzip = mime == "application/tlsrpt+gzip";
  if (!gzip && mime != "application/tlsrpt+json") return;
  std::string body(e.body);
  if (ascii_lower(e.field("content-transfer-encoding")) == "base64") {
    std::string compact;
    for (char c : body) {
      if (c != '\r' && c != '\n' && c != ' ' && c != '\t') compact += c;
    }
    auto decoded = base64_decode(compact);
    if (!decoded) return;
    body = std::move(*decoded);
  }
  if (gzip) {
    auto unzipped = gunzip(body, max_bytes);
    if (!unzipped) return;
    body = std::move(*unzipped);
  }
  if (body.size() <= max_bytes) out->push_back(std::move(body));
}

}  // namespace

std::optional<ReceivedReport> parse_report(std::string_view json) {
  auto root = parse_json(json);
  if (!root || root->kind != JsonValue::Kind::kObject) return std::nullopt;
  const JsonValue& policies = (*root)["policies"];
  if (policies.kind != JsonValue::Kind::kArray) return std::nullopt;
  ReceivedReport r;
  r.info.organization = (*root)["organization-name"].text;
  r.info.contact = (*root)["contact-info"].text;
  r.info.report_id = (*root)["report-id"].text;
  r.info.day = (*root)["date-range"]["start-datetime"].text.substr(0, 10);
  for (const auto& p : policies.items) {
    PolicyCounts counts;
    const JsonValue& policy = p["policy"];
    counts.policy.type = policy["policy-type"].text;
    for (const auto& line : policy["policy-string"].items) counts.policy.text += line.text + "\n";
    for (const auto& mx : policy["mx-host"].items) counts.policy.mx.push_back(mx.text);
    if (r.info.domain.empty()) r.info.domain = policy["policy-domain"].text;
    counts.successes = json_count(p["summary"]["total-successful-session-count"]);
    for (const auto& f : p["failure-details"].items) {
      counts.failures.push_back({f["result-type"].text, f["receiving-mx-hostname"].text,
                                 f["receiving-ip"].text, json_count(f["failed-session-count"])});
    }
    // A summary count with no details still counts, as an unspecified failure.
    uint64_t total = json_count(p["summary"]["total-failure-session-count"]);
    if (total > counts.failure_total())
      counts.failures.push_back({"unspecified", "", "", total - counts.failure_total()});
    r.counts.policies.push_back(std::move(counts));
  }
  return r;
}

std::vector<std::string> report_attachments(std::string_view message, size_t max_bytes) {
  std::vector<std::string> out;
  collect(message, max_bytes, 0, &out);
  return out;
}

}  // namespace hato::policy::tlsrpt
