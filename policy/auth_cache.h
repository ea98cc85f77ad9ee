// auth_cache.h - successful logins remembered for a while (as Dovecot's auth_cache), so a
// client that logs in on every connection does not pay a yescrypt check (~22 ms of CPU)
// each time.
//
// An entry holds the user name, an HMAC-SHA256 of the password under a key drawn at random
// when the cache is made (never the password), the users file's hash the password was
// checked against, and when it expires. A hit needs all three to match: a user whose line
// changed or went away misses at once, even if the reload raced with a check in flight.
// Failures are never remembered: the login brake (AuthGuard) already slows guessing, and
// a cache of wrong passwords would be a store an attacker fills at will.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

namespace hato::policy {

class AuthCache {
 public:
  using Clock = std::chrono::steady_clock;

  // ttl 0 (or capacity 0): nothing is remembered.
  AuthCache(std::chrono::milliseconds ttl, size_t capacity);

  // Whether `password` logged `user` in within the ttl while the users file held
  // `stored_hash` for it, as it still does.
  bool hit(const std::string& user, const std::string& password, const std::string& stored_hash,
           Clock::time_point now);
  // After crypt(3) said yes against `stored_hash`. The least recently used entry makes room.
  void remember(const std::string& user, const std::string& password,
                const std::string& stored_hash, Clock::time_point now);
  // The users file was read again.
  void clear();
  // A reload of the configuration; entries are dropped when either limit changes.
  void set_limits(std::chrono::milliseconds ttl, size_t capacity);

  bool enabled() const { return ttl_.count() > 0 && capacity_ > 0; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string mac;   // HMAC-SHA256(key_, user NUL password)
    std::string hash;  // the users file's line for the user when it was checked
    Clock::time_point expires;
    std::list<std::string>::iterator lru;
  };
  std::string mac(const std::string& user, const std::string& password) const;
  void erase(std::unordered_map<std::string, Entry>::iterator it);

  std::chrono::milliseconds ttl_;
  size_t capacity_;
  std::string key_;
  std::unordered_map<std::string, Entry> entries_;  // by user name
  std::list<std::string> lru_;                      // user names, most recent first
};

}  // namespace hato::policy
