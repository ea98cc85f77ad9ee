// user_roles.cc - the roles file beside the users file.
#include "policy/user_roles.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/files.h"

namespace hato::policy {

std::string user_roles_path(const std::string& users_file) {
  return users_file + ".roles";
}

Result<std::shared_ptr<const UserRoles>> UserRoles::load(const std::string& path) {
  using R = Result<std::shared_ptr<const UserRoles>>;
  auto roles = std::make_shared<UserRoles>();
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::shared_ptr<const UserRoles>(roles);
    return R::error("cannot read roles file " + path + ": " + std::strerror(errno));
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      return R::error(path + ":" + std::to_string(number) + ":1: expected name:role");
    std::string role = line.substr(colon + 1);
    if (role != kRoleAdmin)
      return R::error(path + ":" + std::to_string(number) + ": unknown role '" + role +
                      "' (known: admin)");
    roles->admins_.insert(line.substr(0, colon));
  }
  return std::shared_ptr<const UserRoles>(roles);
}

Status write_user_role(const std::string& path, const std::string& user, const std::string& role) {
  if (user.empty() || user.find_first_of(":\r\n") != std::string::npos)
    return Status::error("user names cannot be empty or contain ':' or line breaks");
  if (!role.empty() && role != kRoleAdmin)
    return Status::error("unknown role '" + role + "' (known: admin)");
  std::ostringstream body;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto colon = line.find(':');
      if (colon != std::string::npos && line.substr(0, colon) == user) continue;
      if (!line.empty()) body << line << '\n';
    }
  }
  if (!role.empty()) body << user << ':' << role << '\n';
  return write_file_atomically(path, body.str(), 0640);
}

}  // namespace hato::policy
