// status.h - errors as values.
//
// Every fallible function returns a Status or a Result<T>. Both are
// [[nodiscard]]: dropping one is a compile error under -Werror, and ignoring
// an error on purpose is a visible call to ignore().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hato {

// What kind of failure a Status is, for the decisions callers take on it (a full disk
// answers 452, a missing message 404). The message says it in words for the log; no
// decision is ever taken on the message's text.
enum class Code {
  kOk,
  kUnknown,          // nothing more specific is known
  kNotFound,         // no such message, key or file
  kNoSpace,          // the disk is full (ENOSPC)
  kInvalidArgument,  // the caller asked for something malformed
  kUnavailable,      // shut down, closing, or a peer that cannot be reached now
  kBusy,             // try again: a lock or a limit
  kIoError,          // the disk or the OS failed otherwise
  kCorruption,       // stored data that does not parse
};

class [[nodiscard]] Status {
 public:
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(Code::kUnknown, std::move(message)); }
  static Status error(Code code, std::string message) { return Status(code, std::move(message)); }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }
  // The same kind of failure, its message with `context` in front ("queue write failed: ").
  Status prefixed(std::string_view context) const {
    return is_ok() ? *this : Status(code_, std::string(context) + message());
  }
  void ignore() const {}

 private:
  Status() = default;
  Status(Code code, std::string m)
      : code_(code == Code::kOk ? Code::kUnknown : code), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::optional<std::string> message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must be an error

  static Result error(std::string message) { return Result(Status::error(std::move(message))); }
  static Result error(Code code, std::string message) {
    return Result(Status::error(code, std::move(message)));
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  // Empty for a value, so logging a Result never throws.
  const std::string& message() const {
    static const std::string kEmpty;
    return is_ok() ? kEmpty : std::get<Status>(v_).message();
  }
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }
  Code code() const { return is_ok() ? Code::kOk : std::get<Status>(v_).code(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hato
