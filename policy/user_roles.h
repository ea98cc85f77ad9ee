// user_roles.h - who may use the dashboard: `hato user add NAME --role admin`.
//
// Roles live beside the users file, in its path with ".roles" appended (mode 0640), one
// `<name>:<role>` line per user that has one (today the only role is "admin"). The users
// file itself stays `name:crypt-hash` lines, so files made with `mkpasswd` or `doveadm pw`
// keep working, and so does every reader of that format; a user without a line here is a
// sending user only.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "common/status.h"

namespace hato::policy {

inline constexpr char kRoleAdmin[] = "admin";

class UserRoles {
 public:
  // A missing file is no roles, not an error.
  static Result<std::shared_ptr<const UserRoles>> load(const std::string& path);
  bool is_admin(const std::string& user) const { return admins_.count(user) != 0; }

 private:
  std::set<std::string> admins_;
};

// Where the roles of `users_file` live.
std::string user_roles_path(const std::string& users_file);

// Sets `user`'s role ("admin"), or removes it when `role` is empty. Atomic, mode 0640.
Status write_user_role(const std::string& path, const std::string& user, const std::string& role);

}  // namespace hato::policy
