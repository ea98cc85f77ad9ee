// auth_cache.cc - see auth_cache.h.
#include "policy/auth_cache.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace hato::policy {

namespace {
constexpr size_t kKeyBytes = 32;

std::string random_key() {
  std::string key(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    // No CSPRNG: the key must still be unguessable, so the cache stays off (see hit()).
    return "";
  }
  return key;
}
}  // namespace

AuthCache::AuthCache(std::chrono::milliseconds ttl, size_t capacity)
    : ttl_(ttl), capacity_(capacity), key_(random_key()) {}

std::string AuthCache::mac(const std::string& user, const std::string& password) const {
  std::string data = user;
  data.push_back('\0');  // names hold no NUL: "ab"+"c" and "a"+"bc" differ
  data += password;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
    len = 0;
  OPENSSL_cleanse(data.data(), data.size());
  return std::string(reinterpret_cast<const char*>(out), len);
}

bool AuthCache::hit(const std::string& user, const std::string& password,
                    const std::string& stored_hash, Clock::time_point now) {
  if (!enabled() || key_.empty()) return false;
  auto it = entries_.find(user);
  if (it == entries_.end()) return false;
  Entry& e = it->second;
  if (now >= e.expires || e.hash != stored_hash) {
    erase(it);
    return false;
  }
  std::string m = mac(user, password);
  // A wrong password leaves the entry alone: guessing must not evict the right one.
  if (m.empty() || m.size() != e.mac.size() || CRYPTO_memcmp(m.data(), e.mac.data(), m.size()) != 0)
    return false;
  lru_.splice(lru_.begin(), lru_, e.lru);
  return true;
}

void AuthCache::remember(const std::string& user, const std::string& password,
                         const std::string& stored_hash, Clock::time_point now) {
  if (!enabled() || key_.empty()) return;
  std::string m = mac(user, password);
  if (m.empty()) return;
  auto it = entries_.find(user);
  if (it != entries_.end()) erase(it);
  while (entries_.size() >= capacity_) erase(entries_.find(lru_.back()));
  lru_.push_front(user);
  entries_.emplace(user, Entry{std::move(m), stored_hash, now + ttl_, lru_.begin()});
}

void AuthCache::erase(std::unordered_map<std::string, Entry>::iterator it) {
  OPENSSL_cleanse(it->second.mac.data(), it->second.mac.size());
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

void AuthCache::clear() {
  while (!entries_.empty()) erase(entries_.begin());
}

void AuthCache::set_limits(std::chrono::milliseconds ttl, size_t capacity) {
  if (ttl == ttl_ && capacity == capacity_) return;
  clear();
  ttl_ = ttl;
  capacity_ = capacity;
}

}  // namespace hato::policy
