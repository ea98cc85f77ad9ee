// api_keys.cc - API keys: made from /dev/urandom, kept as SHA-256, compared in constant time.
#include "policy/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "policy/auth.h"

namespace hato::policy {

namespace {

constexpr std::string_view kPrefix = "hato_";

// The ID of a presented key: "hato_<id>_<secret>".
std::string_view id_of(std::string_view key) {
  if (!key.starts_with(kPrefix)) return {};
  key.remove_prefix(kPrefix.size());
  size_t underscore = key.find('_');
  return underscore == std::string_view::npos ? std::string_view{} : key.substr(0, underscore);
}

Status write_keys(const std::string& path, const std::vector<ApiKey>& keys) {
  std::string text;
  for (const auto& k : keys) text += k.id + ":" + k.user + ":" + k.sha256 + "\n";
  return write_file_atomically(path, text, 0640);
}

}  // namespace

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr)) return "";
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string api_keys_path(const std::string& users_file) {
  return users_file + ".keys";
}

Result<std::shared_ptr<const ApiKeyDb>> ApiKeyDb::load(const std::string& path) {
  auto db = std::make_shared<ApiKeyDb>();
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::shared_ptr<const ApiKeyDb>(db);
    return Result<std::shared_ptr<const ApiKeyDb>>::error("cannot read the API keys file " + path +
                                                          ": " + std::strerror(errno));
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    size_t first = line.find(':');
    size_t last = line.rfind(':');
    if (first == std::string::npos || first == last || first == 0 || last + 65 != line.size())
      return Result<std::shared_ptr<const ApiKeyDb>>::error(path + ":" + std::to_string(number) +
                                                            ":1: expected id:user:sha256");
    db->keys_.push_back(
        {line.substr(0, first), line.substr(first + 1, last - first - 1), line.substr(last + 1)});
  }
  return std::shared_ptr<const ApiKeyDb>(db);
}

std::optional<std::string> ApiKeyDb::user_of(std::string_view presented) const {
  std::string_view id = id_of(presented);
  if (id.empty()) return std::nullopt;
  std::string digest = sha256_hex(presented);
  for (const auto& k : keys_) {
    if (k.id == id && k.sha256.size() == digest.size() &&
        CRYPTO_memcmp(k.sha256.data(), digest.data(), digest.size()) == 0)
      return k.user;
  }
  return std::nullopt;
}

Result<std::string> add_api_key(const std::string& path, const std::string& user) {
  if (user.empty() || user.find_first_of(":\r\n") != std::string::npos)
    return Result<std::string>::error("user names cannot be empty or contain ':' or line breaks");
  auto db = ApiKeyDb::load(path);
  if (!db) return Result<std::string>::error(db.message());
  std::string id = random_password().substr(0, 8);
  std::string secret = random_password() + random_password();
  if (id.size() != 8 || secret.size() != 40)
    return Result<std::string>::error("cannot read /dev/urandom");
  std::string key = std::string(kPrefix) + id + "_" + secret;
  std::vector<ApiKey> keys = (*db)->keys();
  keys.push_back({id, user, sha256_hex(key)});
  if (auto s = write_keys(path, keys); !s) return Result<std::string>::error(s.message());
  return key;
}

Status remove_api_key(const std::string& path, const std::string& user, const std::string& id) {
  auto db = ApiKeyDb::load(path);
  if (!db) return db.status();
  std::vector<ApiKey> keys;
  for (const auto& k : (*db)->keys()) {
    if (k.user != user || k.id != id) keys.push_back(k);
  }
  if (keys.size() == (*db)->keys().size())
    return Status::error("user " + user + " has no key " + id);
  return write_keys(path, keys);
}

}  // namespace hato::policy
