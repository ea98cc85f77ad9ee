// log.cc - the log writer: one write(2) per line so lines from threads never interleave.
#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace hato::log {

namespace {
std::atomic<bool> g_json{false};
std::atomic<int> g_min{static_cast<int>(Level::kInfo)};

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}
}  // namespace

void set_json(bool json) {
  g_json = json;
}
void set_min_level(Level level) {
  g_min = static_cast<int>(level);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[96];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

std::string rfc5322(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

void append_json_field(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  append_json_string(out, key);
  out += ':';
  append_json_string(out, value);
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void write(Level level, std::string_view event, std::span<const Field> fields) {
  if (static_cast<int>(level) < g_min.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(160);
  std::string time = rfc3339(now_ms());
  if (g_json.load(std::memory_order_relaxed)) {
    line += "{\"time\":\"" + time + "\",\"level\":\"" + level_name(level) + "\",\"event\":";
    append_json_string(line, event);
    for (const auto& [k, v] : fields) {
      line += ',';
      append_json_string(line, k);
      line += ':';
      append_json_string(line, v);
    }
    line += "}\n";
  } else {
    line += time;
    line += ' ';
    line += level_name(level);
    line += ' ';
    line += event;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      if (needs_quotes(v)) {
        append_json_string(line, v);
      } else {
        line += v;
      }
    }
    line += '\n';
  }
  ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  (void)n;  // nowhere to report a failed log write
}

}  // namespace hato::log
