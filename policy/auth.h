// auth.h - submission credentials: the users file and the brake on guessing.
//
// users_file holds `name:hash` lines; the hash is any crypt(3) format libxcrypt
// knows (yescrypt `$y$`, SHA-512-crypt `$6$`), so `mkpasswd` and `doveadm pw`
// output works. Hashing is slow on purpose: verify() belongs on a CPU worker.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace hato::policy {

class UserDb {
 public:
  // A missing file is an empty database, not an error.
  static Result<std::shared_ptr<const UserDb>> load(const std::string& path);
  bool verify(const std::string& user, const std::string& password) const;
  bool contains(const std::string& user) const { return users_.count(user) != 0; }
  std::vector<std::string> names() const;

 private:
  std::map<std::string, std::string> users_;  // name -> hash
};

// A new yescrypt hash of password.
Result<std::string> hash_password(const std::string& password);

// Rewrites users_file with `name` set to `hash` (added or replaced), or
// removed when hash is empty. Atomic: temp file, fsync, rename. Mode 0640.
Status write_user(const std::string& path, const std::string& name, const std::string& hash);

// Counts failed logins per client address and says how long to hold the reply
// of the next one: guessing gets slower, a typo costs a second.
class AuthGuard {
 public:
  // A check has begun (counts towards blocked() until it ends), so guesses
  // made in parallel are bounded like guesses made one after another.
  void begin(const std::string& client) { in_flight_[client]++; }
  void end(const std::string& client) {
    auto it = in_flight_.find(client);
    if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
  }
  std::chrono::milliseconds failure(const std::string& client);  // returns the delay
  void success(const std::string& client);
  uint32_t failures(const std::string& client) const;
  bool blocked(const std::string& client) const;  // too many recent failures

 private:
  struct Entry {
    uint32_t count = 0;
    std::chrono::steady_clock::time_point last;
  };
  void expire();
  std::map<std::string, Entry> entries_;
  std::map<std::string, uint32_t> in_flight_;
};

}  // namespace hato::policy
