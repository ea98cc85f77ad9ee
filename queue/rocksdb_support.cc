// rocksdb_support.cc - see rocksdb_support.h.
#include "queue/rocksdb_support.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/files.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace hato::queue {

namespace {

class RocksDbLogger final : public rocksdb::Logger {
 public:
  RocksDbLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buf[1024];
    va_list copy;
    va_copy(copy, ap);
    int n = std::vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    if (n < 0) return;
    std::string text(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    log::Level ours = level >= rocksdb::InfoLogLevel::ERROR_LEVEL  ? log::Level::kError
                      : level == rocksdb::InfoLogLevel::WARN_LEVEL ? log::Level::kWarning
                                                                   : log::Level::kDebug;
    // HEADER_LEVEL (the options dump at open) sorts above FATAL; it is not an error.
    if (level == rocksdb::InfoLogLevel::HEADER_LEVEL) ours = log::Level::kDebug;
    log::write(ours, "queue store", {{"rocksdb", text}});
  }
};

}  // namespace

std::string big_endian64(uint64_t v) {
  std::string out(8, '\0');
  for (size_t i = 8; i-- > 0; v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

uint64_t read_big_endian64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string prefix_successor(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty() && static_cast<unsigned char>(out.back()) == 0xff) out.pop_back();
  if (!out.empty()) out.back() = static_cast<char>(static_cast<unsigned char>(out.back()) + 1);
  return out;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

Code code_of(const rocksdb::Status& s) {
  if (s.ok()) return Code::kOk;
  if (s.IsNotFound()) return Code::kNotFound;
  if (s.IsNoSpace()) return Code::kNoSpace;
  if (s.IsCorruption()) return Code::kCorruption;
  if (s.IsInvalidArgument()) return Code::kInvalidArgument;
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Code::kBusy;
  if (s.IsShutdownInProgress()) return Code::kUnavailable;
  if (s.IsIOError()) return Code::kIoError;
  return Code::kUnknown;
}
Status write_error(const rocksdb::Status& s) {
  return Status::error(code_of(s), "queue write failed: " + s.ToString());
}
Status read_error(const rocksdb::Status& s) {
  return Status::error(code_of(s), "queue read failed: " + s.ToString());
}

std::shared_ptr<rocksdb::Logger> make_rocksdb_logger() {
  return std::make_shared<RocksDbLogger>();
}

Status make_durable_dir(const std::string& path) {
  if (auto s = make_dirs_durably(path, 0700); !s) return s;
  // Synced on every start, not only the first: a start that crashed after mkdir left the
  // entry unsynced.
  auto slash = path.find_last_of('/');
  return sync_dir(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace hato::queue
