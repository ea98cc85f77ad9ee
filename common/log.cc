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
  std::string out;
  append_rfc3339(out, unix_ms);
  return out;
}

void append_rfc3339(std::string& out, int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int year = tm.tm_year + 1900;
  if (unix_ms < 0 || year > 9999) {
    char buf[96];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
    out += buf;
    return;
  }
  // By hand: a time is written for every log line and every event, and snprintf costs
  // several times more.
  char buf[] = "0000-00-00T00:00:00.000Z";
  auto digits = [&buf](size_t at, int value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10)
      buf[at + i] = static_cast<char>('0' + value % 10);
  };
  digits(0, year, 4);
  digits(5, tm.tm_mon + 1, 2);
  digits(8, tm.tm_mday, 2);
  digits(11, tm.tm_hour, 2);
  digits(14, tm.tm_min, 2);
  digits(17, tm.tm_sec, 2);
  digits(20, static_cast<int>(unix_ms % 1000), 3);
  out.append(buf, sizeof buf - 1);
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
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  // Runs of characters that need no escape go in with one append each.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
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
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
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
