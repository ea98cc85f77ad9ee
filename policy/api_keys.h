// api_keys.h - the keys applications present to the HTTP API (issue 22):
// `Authorization: Bearer hato_<id>_<secret>`.
//
// `hato user key add NAME` makes a key and shows it once. The keys file (the users file's path
// with ".keys" appended, mode 0640) keeps one line per key, `<id>:<user>:<sha256 hex of the
// whole key>`: the key itself is never stored, and the ID names it in `user key ls` and
// `user key remove`. A key carries about 230 random bits, so a plain SHA-256 is enough; a
// slow password hash would only make every API call slow.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hato::policy {

struct ApiKey {
  std::string id;
  std::string user;
  std::string sha256;  // hex
};

class ApiKeyDb {
 public:
  // A missing file is no keys, not an error.
  static Result<std::shared_ptr<const ApiKeyDb>> load(const std::string& path);
  // The user a presented key belongs to; nullopt for a key that matches none.
  std::optional<std::string> user_of(std::string_view presented) const;
  const std::vector<ApiKey>& keys() const { return keys_; }

 private:
  std::vector<ApiKey> keys_;
};

// SHA-256 of `text` in lower-case hex.
std::string sha256_hex(std::string_view text);

// Where the keys of `users_file` live.
std::string api_keys_path(const std::string& users_file);

// A new key for `user`, written (hashed) to the keys file; returns the key, to be shown once.
Result<std::string> add_api_key(const std::string& path, const std::string& user);
// Removes the key `id` of `user`; an error when there is none.
Status remove_api_key(const std::string& path, const std::string& user, const std::string& id);

}  // namespace hato::policy
