// privileges.cc - key file modes and the switch to the unprivileged user.
#include "cli/privileges.h"

#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/log.h"

namespace hato::cli {

namespace {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<Account> find_user(const std::string& name) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return Result<Account>::error("user '" + name + "': " + std::strerror(rc));
  if (!found) {
    return Result<Account>::error("user '" + name +
                                  "' does not exist (create it: useradd --system " + name + ")");
  }
  return Account{pw.pw_name, pw.pw_uid, pw.pw_gid};
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status check_key_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::ok();  // loading it says what is wrong
  if (st.st_mode & S_IROTH) {
    return Status::error(path + ": private key is readable by every user (mode " +
                         octal(st.st_mode) + "); chmod 600 it, owned by the user hato runs as");
  }
  if (st.st_mode & S_IRGRP) {
    log::warning("private key readable by its group",
                 {{"file", path}, {"mode", octal(st.st_mode)}, {"fix", "chmod 600"}});
  }
  return Status::ok();
}

// nftw() takes a plain function: the owner to give goes through these.
uid_t g_chown_uid;
gid_t g_chown_gid;
int g_chown_errno;
std::string g_chown_failed;

int chown_one(const char* path, const struct stat*, int, struct FTW*) {
  if (::lchown(path, g_chown_uid, g_chown_gid) != 0) {
    g_chown_errno = errno;
    g_chown_failed = path;
    return 1;  // stops the walk
  }
  return 0;
}

}  // namespace

Status check_key_files(const conf::Config& config) {
  if (!config.tls.key.empty()) {
    if (auto s = check_key_file(config.tls.key); !s) return s;
  }
  for (const auto& pair : config.tls.additional) {
    if (auto s = check_key_file(pair.key); !s) return s;
  }
  for (const auto& domain : config.domains) {
    for (const auto& key : domain.dkim) {
      if (auto s = check_key_file(key.key_file); !s) return s;
    }
  }
  return Status::ok();
}

// give_data_dir - data_dir and everything in it (the queue RocksDB made as root
// at start, the admin socket) to the user, so that it stays writable.
static Status give_data_dir(const conf::Config& config, const Account& account) {
  g_chown_uid = account.uid;
  g_chown_gid = account.gid;
  g_chown_failed.clear();
  if (::nftw(config.data_dir.c_str(), chown_one, 16, FTW_PHYS) != 0) {
    std::string what = g_chown_failed.empty() ? config.data_dir : g_chown_failed;
    return Status::error("cannot give " + what + " to user " + config.user + ": " +
                         std::strerror(g_chown_failed.empty() ? errno : g_chown_errno));
  }
  return Status::ok();
}

Status drop_privileges(const conf::Config& config) {
  if (config.user.empty()) {
    if (::geteuid() == 0) {
      log::warning("running as root", {{"fix",
                                        "set `user:` in the configuration (e.g. user: hato) "
                                        "so that hato drops root after binding its ports"}});
    }
    return Status::ok();
  }
  auto account = find_user(config.user);
  if (!account) return account.status();
  if (::geteuid() != 0) {
    if (::geteuid() == account->uid) return Status::ok();  // started as that user already
    return Status::error("cannot become user " + config.user +
                         ": hato was started neither as root nor as that user");
  }
  if (auto s = give_data_dir(config, *account); !s) return s;
  // The admin socket was made as root; the operator's `sudo -u` CLI must reach it.
  if (!config.admin.socket.empty() &&
      ::lchown(config.admin.socket.c_str(), account->uid, account->gid) != 0 && errno != ENOENT) {
    return Status::error("cannot give " + config.admin.socket + " to user " + config.user + ": " +
                         std::strerror(errno));
  }
  // Groups first, then the group id, then the user id: afterwards none of it
  // could be changed any more.
  if (::initgroups(account->name.c_str(), account->gid) != 0) {
    return Status::error("initgroups(" + config.user + "): " + std::strerror(errno));
  }
  if (::setgid(account->gid) != 0) {
    return Status::error("setgid(" + std::to_string(account->gid) + "): " + std::strerror(errno));
  }
  if (::setuid(account->uid) != 0) {
    return Status::error("setuid(" + std::to_string(account->uid) + "): " + std::strerror(errno));
  }
  if (account->uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
    return Status::error("root could be regained after switching to " + config.user);
  }
  if (::access(config.data_dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    return Status::error(config.data_dir + " is not writable for user " + config.user + ": " +
                         std::strerror(errno) + " (chown it, and let that user into its parents)");
  }
  log::info("dropped privileges", {{"user", config.user},
                                   {"uid", std::to_string(account->uid)},
                                   {"gid", std::to_string(account->gid)}});
  return Status::ok();
}

}  // namespace hato::cli
