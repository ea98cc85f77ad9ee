// auth.h - submission credentials: the users file and the brake on guessing.
//
// users_file holds `name:hash` lines; the hash is any crypt(3) format libxcrypt
// knows (yescrypt `$y$`, SHA-512-crypt `$6$`), so `mkpasswd` and `doveadm pw`
// output works. Hashing is slow on purpose: verify() belongs on a CPU worker.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "policy/client_limits.h"

namespace hato::policy {

class UserDb {
 public:
  // A missing file is an empty database, not an error.
  static Result<std::shared_ptr<const UserDb>> load(const std::string& path);
  bool verify(const std::string& user, const std::string& password) const;
  bool contains(const std::string& user) const { return users_.count(user) != 0; }
  // The user's hash as the file holds it; null for an unknown user.
  const std::string* hash(const std::string& user) const {
    auto it = users_.find(user);
    return it == users_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const;

 private:
  std::map<std::string, std::string> users_;  // name -> hash
};

// A new yescrypt hash of password.
Result<std::string> hash_password(const std::string& password);

// 20 letters and digits from /dev/urandom, without look-alikes (no l, O, 0, 1, I): a password
// made for someone who is shown it once (`hato serve`'s first start, `hato init`). Empty when
// /dev/urandom cannot be read.
std::string random_password();

// Rewrites users_file with `name` set to `hash` (added or replaced), or
// removed when hash is empty. Atomic: temp file, fsync, rename. Mode 0640.
Status write_user(const std::string& path, const std::string& name, const std::string& hash);

// A file of `name:value` lines (users_file, its .roles and .keys neighbours): '#' comments and
// blank lines skipped, CRLF taken. A missing file reads as empty. `each` gets each pair and
// answers "" or the problem, reported as PATH:LINE: problem; a line without a name or a
// value is "expected name:<value_word>". `what` names the file ("users file").
Status read_name_lines(const std::string& path, const char* what, const char* value_word,
                       const std::function<std::string(std::string name, std::string value)>& each);
// Rewrites such a file with `name` set to `value`, or without it when `value` is empty; *found
// says whether it was there. Atomic (temp file, fsync, rename), mode 0640.
Status write_name_line(const std::string& path, const std::string& name, const std::string& value,
                       bool* found = nullptr);

// Counts failed logins per client address, and within it per target user name, and says
// how long to hold the reply of the next one: guessing gets slower (1 s doubling to 16 s),
// a typo costs a second, and ten failures within 15 minutes block the address. A success
// clears only that user's own failures from that address, so logging in to an account of
// one's own between guesses at another buys no more guesses.
class AuthGuard {
 public:
  AuthGuard() : by_client_(Brake{}), by_user_(Brake{}) {}

  // Logins in flight count towards may_begin() (FailureGuard::begin).
  void begin(const std::string& client) { by_client_.begin(client); }
  void end(const std::string& client) { by_client_.end(client); }
  std::chrono::milliseconds failure(const std::string& client, const std::string& user);
  void success(const std::string& client, const std::string& user);
  uint32_t failures(const std::string& client) const { return by_client_.failures(client); }
  uint32_t failures(const std::string& client, const std::string& user) const;
  bool blocked(const std::string& client) const { return by_client_.blocked(client); }
  bool may_begin(const std::string& client) const { return by_client_.may_begin(client); }

 private:
  FailureGuard by_client_;  // every failure from the address
  FailureGuard by_user_;    // keyed by address and user name: what a success may forgive
};

}  // namespace hato::policy
