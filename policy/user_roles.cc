// user_roles.cc - the roles file beside the users file.
#include "policy/user_roles.h"

#include "policy/auth.h"

namespace hato::policy {

std::string user_roles_path(const std::string& users_file) {
  return users_file + ".roles";
}

Result<std::shared_ptr<const UserRoles>> UserRoles::load(const std::string& path) {
  using R = Result<std::shared_ptr<const UserRoles>>;
  auto roles = std::make_shared<UserRoles>();
  Status s = read_name_lines(path, "roles file", "role", [&](std::string name, std::string role) {
    if (role != kRoleAdmin) return "unknown role '" + role + "' (known: admin)";
    roles->admins_.insert(std::move(name));
    return std::string();
  });
  if (!s) return R::error(s.message());
  return std::shared_ptr<const UserRoles>(roles);
}

Status write_user_role(const std::string& path, const std::string& user, const std::string& role) {
  if (!role.empty() && role != kRoleAdmin)
    return Status::error("unknown role '" + role + "' (known: admin)");
  return write_name_line(path, user, role);
}

}  // namespace hato::policy
