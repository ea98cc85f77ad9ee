// auth.cc - crypt(3) verification, the users file, and failed-login accounting.
#include "policy/auth.h"

#include <crypt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/files.h"

namespace hato::policy {

namespace {
// Constant-time comparison, so a timing side channel cannot reveal the hash.
bool equal_ct(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

std::string random_password() {
  static const char kChars[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  std::string out;
  constexpr unsigned kCount = sizeof kChars - 1;  // 57
  while (out.size() < 20) {
    int c = urandom.get();
    if (c == std::ifstream::traits_type::eof()) return "";
    // Bytes from 4 * 57 = 228 up would favour the first letters: they are drawn again.
    if (static_cast<unsigned>(c) < 4 * kCount) out += kChars[static_cast<unsigned>(c) % kCount];
  }
  return out;
}

Status read_name_lines(
    const std::string& path, const char* what, const char* value_word,
    const std::function<std::string(std::string name, std::string value)>& each) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return Status::ok();
    return Status::error(std::string("cannot read ") + what + " " + path + ": " +
                         std::strerror(errno));
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    std::string at = path + ":" + std::to_string(number);
    if (colon == std::string::npos || colon == 0 || colon + 1 == line.size())
      return Status::error(at + ":1: expected name:" + value_word);
    std::string problem = each(line.substr(0, colon), line.substr(colon + 1));
    if (!problem.empty()) return Status::error(at + ": " + problem);
  }
  return Status::ok();
}

Result<std::shared_ptr<const UserDb>> UserDb::load(const std::string& path) {
  auto db = std::make_shared<UserDb>();
  Status s = read_name_lines(path, "users file", "hash", [&](std::string name, std::string hash) {
    db->users_[std::move(name)] = std::move(hash);
    return std::string();
  });
  if (!s) return Result<std::shared_ptr<const UserDb>>::error(s.message());
  return std::shared_ptr<const UserDb>(db);
}

bool UserDb::verify(const std::string& user, const std::string& password) const {
  auto it = users_.find(user);
  // An unknown user still costs a hash, so timing does not reveal names.
  static const std::string kDummy = "$6$hatodummysalt$";
  const std::string& setting = it == users_.end() ? kDummy : it->second;
  crypt_data data;
  std::memset(&data, 0, sizeof data);
  const char* out = crypt_r(password.c_str(), setting.c_str(), &data);
  if (!out || out[0] == '*') return false;
  return it != users_.end() && equal_ct(out, it->second);
}

std::vector<std::string> UserDb::names() const {
  std::vector<std::string> out;
  for (const auto& [name, hash] : users_) out.push_back(name);
  return out;
}

Result<std::string> hash_password(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, salt, sizeof salt))
    return Result<std::string>::error(std::string("cannot make a salt: ") + std::strerror(errno));
  crypt_data data;
  std::memset(&data, 0, sizeof data);
  const char* out = crypt_r(password.c_str(), salt, &data);
  if (!out || out[0] == '*') return Result<std::string>::error("crypt failed");
  return std::string(out);
}

Status write_name_line(const std::string& path, const std::string& name, const std::string& value,
                       bool* found) {
  if (name.empty() || name.find_first_of(":\r\n") != std::string::npos)
    return Status::error("user names cannot be empty or contain ':' or line breaks");
  std::ostringstream body;
  bool there = false;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto colon = line.find(':');
      if (colon != std::string::npos && line.substr(0, colon) == name) {
        if (!there && !value.empty()) body << name << ':' << value << '\n';
        there = true;
        continue;
      }
      if (!line.empty()) body << line << '\n';
    }
  }
  if (found) *found = there;
  if (!value.empty() && !there) body << name << ':' << value << '\n';
  if (value.empty() && !there) return Status::ok();
  return write_file_atomically(path, body.str(), 0640);
}

Status write_user(const std::string& path, const std::string& name, const std::string& hash) {
  bool found = false;
  if (hash.empty()) {
    // Removing: the file is left alone when the user is not in it.
    if (Status s = write_name_line(path, name, hash, &found); !s) return s;
    return found ? Status::ok() : Status::error("no such user: " + name);
  }
  return write_name_line(path, name, hash, &found);
}

namespace {
std::string user_key(const std::string& client, const std::string& user) {
  return client + '\n' + user;  // an address holds no line break
}
}  // namespace

std::chrono::milliseconds AuthGuard::failure(const std::string& client, const std::string& user) {
  (void)by_user_.failure(user_key(client, user));
  return by_client_.failure(client);
}

void AuthGuard::success(const std::string& client, const std::string& user) {
  std::string key = user_key(client, user);
  by_client_.forgive(client, by_user_.failures(key));
  by_user_.success(key);
}

uint32_t AuthGuard::failures(const std::string& client, const std::string& user) const {
  return by_user_.failures(user_key(client, user));
}

}  // namespace hato::policy
