// user_cmd.cc - `hato user add|remove|list`: submission credentials in users_file; `hato user
// frozen|thaw|baseline`: the sending brake, through the daemon.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"
#include "common/strings.h"
#include "conf/config.h"
#include "policy/api_keys.h"
#include "policy/auth.h"
#include "policy/user_roles.h"

namespace hato::cli {

namespace {

// Reads one line with terminal echo off.
std::string read_hidden(const char* prompt) {
  std::cerr << prompt << std::flush;
  termios old;
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  return line;
}

// users_file was just rewritten: a running daemon reads it again now, so the change holds
// for the next login. Says what happened; fails only when a daemon answered with an error.
int tell_daemon(const conf::Config& config, const std::string& what) {
  bool unreachable = false;
  auto r = admin_post(config.admin.socket, "/v1/users/reload", &unreachable);
  if (!r && unreachable) {
    std::cerr << "hato: " << what << "; no daemon answers on " << config.admin.socket
              << ", it reads the file when it starts\n";
    return kExitOk;
  }
  if (r && r->status == 200) {
    auto answer = parse_json(r->body);
    std::string count = answer ? answer->str("users") : "";
    std::cerr << "hato: " << what << "; the running daemon has reloaded it ("
              << (count.empty() ? "?" : count) << " users)\n";
    return kExitOk;
  }
  std::string why = !r ? r.message() : r->body;
  if (auto answer = r ? parse_json(r->body) : std::nullopt; answer && !answer->str("error").empty())
    why = answer->str("error");
  std::cerr << "hato: " << what << ", but the running daemon did not reload it: " << why
            << " (it keeps the users it had; it re-reads the file when it next changes)\n";
  return kExitFailed;
}

constexpr const char* kUserUsage =
    "usage: hato user add NAME [--password-stdin] [--role admin] | remove NAME | list\n"
    "       hato user key add NAME | key remove NAME KEYID | key ls\n"
    "       hato user frozen | thaw NAME | baseline NAME MESSAGES RECIPIENTS\n";

// An answer of the daemon's admin API: its body on 200, else the exit status after saying why.
// The admin path of a user's `what`: the name percent-encoded, as it may hold '/', '?' or '%'.
std::string user_path(const std::string& user, const char* what) {
  return "/v1/users/" + percent_encode(user, "-._~@+") + "/" + what;
}

// `hato user frozen | thaw NAME | baseline NAME M R`: the sending brake (limits.brake), through
// the running daemon.

int brake_command(const std::vector<std::string>& args, const conf::Config& config) {
  const std::string& socket = config.admin.socket;
  AdminResponse r;
  const std::string& body = r.body;
  if (args[0] == "frozen" && args.size() == 1) {
    if (int rc = admin_call(socket, false, "/v1/users/frozen", &r)) return rc;
    for (size_t at = 0; at < body.size();) {
      size_t eol = body.find('\n', at);
      if (eol == std::string::npos) eol = body.size();
      if (auto line = parse_json(std::string_view(body).substr(at, eol - at)))
        std::cout << line->str("user") << " " << line->str("since") << " " << line->str("reason")
                  << "\n";
      at = eol + 1;
    }
    return kExitOk;
  }
  if (args[0] == "thaw" && args.size() == 2) {
    if (int rc = admin_call(socket, true, user_path(args[1], "thaw"), &r)) return rc;
    auto answer = parse_json(body);
    std::cerr << "hato: user " << args[1] << " thawed; " << (answer ? answer->str("released") : "?")
              << " held messages released\n";
    return kExitOk;
  }
  if (args[0] == "baseline" && args.size() == 4) {
    std::string path = user_path(args[1], "baseline") +
                       "?messages=" + percent_encode(args[2], "-._~") +
                       "&recipients=" + percent_encode(args[3], "-._~");
    if (int rc = admin_call(socket, true, path, &r)) return rc;
    std::cerr << "hato: the brake now takes " << args[1] << " to send " << args[2]
              << " messages to " << args[3] << " recipients an hour\n";
    return kExitOk;
  }
  std::cerr << kUserUsage;
  return kExitUsage;
}

// `hato user key ...`: keys for the HTTP API, kept hashed beside the users file.
int key_command(const std::vector<std::string>& args, const std::string& file) {
  std::string path = policy::api_keys_path(file);
  if (args.size() == 3 && args[1] == "add") {
    auto key = policy::add_api_key(path, args[2]);
    if (!key) return fail(kExitFailed, key.message());
    std::cout << *key << "\n";
    std::cerr << "hato: a key for " << args[2] << " saved (hashed) in " << path
              << "; it is shown only now: give it to the application as `Authorization: Bearer "
                 "KEY`\n";
    return kExitOk;
  }
  if (args.size() == 4 && args[1] == "remove") {
    if (auto s = policy::remove_api_key(path, args[2], args[3]); !s)
      return fail(kExitFailed, s.message());
    std::cerr << "hato: key " << args[3] << " of " << args[2] << " removed from " << path << "\n";
    return kExitOk;
  }
  if (args.size() == 2 && args[1] == "ls") {
    auto db = policy::ApiKeyDb::load(path);
    if (!db) return fail(kExitFailed, db.message());
    for (const auto& k : (*db)->keys()) std::cout << k.user << " " << k.id << "\n";
    return kExitOk;
  }
  std::cerr << kUserUsage;
  return kExitUsage;
}

// The new user's password: from stdin with --password-stdin, else typed twice on a terminal.
// Empty after saying why.
std::string new_password(bool from_stdin) {
  std::string password;
  if (from_stdin) {
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
  } else if (isatty(STDIN_FILENO)) {
    password = read_hidden("Password: ");
    if (read_hidden("Again: ") != password) {
      std::cerr << "hato: the passwords differ\n";
      return "";
    }
  } else {
    std::cerr << "hato: not a terminal; use --password-stdin\n";
    return "";
  }
  if (password.empty()) std::cerr << "hato: empty password\n";
  return password;
}

// `hato user add NAME [--password-stdin] [--role admin]`: the hash in users_file, the role in
// the roles file beside it (policy/user_roles.h).
int add_user(const std::vector<std::string>& args, const conf::Config& config) {
  bool from_stdin = false;
  std::string role;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--password-stdin") {
      from_stdin = true;
    } else if (args[i] == "--role" && i + 1 < args.size() && args[i + 1] == policy::kRoleAdmin) {
      role = args[++i];
    } else {
      std::cerr << kUserUsage;
      return kExitUsage;
    }
  }
  std::string password = new_password(from_stdin);
  if (password.empty()) return kExitFailed;
  auto hash = policy::hash_password(password);
  if (!hash) return fail(kExitFailed, hash.message());
  const std::string& file = config.users_file;
  if (auto s = policy::write_user(file, args[1], *hash); !s) return fail(kExitFailed, s.message());
  // Without --role a password change keeps the role the user has; `user remove` drops both.
  if (!role.empty()) {
    if (auto s = policy::write_user_role(policy::user_roles_path(file), args[1], role); !s)
      return fail(kExitFailed, s.message());
  }
  return tell_daemon(config, "user " + args[1] + (role.empty() ? "" : " (role " + role + ")") +
                                 " saved in " + file);
}

}  // namespace

int user_command(const std::vector<std::string>& args, const std::string& config_path) {
  if (args.empty()) {
    std::cerr << kUserUsage;
    return kExitUsage;
  }
  std::string path = conf::find_config_file(config_path);
  conf::ConfigPtr config;
  if (path.empty()) {
    config = conf::embedded_default();
  } else {
    auto loaded = conf::load_file(path);
    for (const auto& e : loaded.errors) std::cerr << e << "\n";
    if (!loaded.ok()) return kExitUsage;
    config = loaded.config;
  }
  const std::string& file = config->users_file;
  const std::string& verb = args[0];
  if (verb == "key") return key_command(args, file);
  if (verb == "frozen" || verb == "thaw" || verb == "baseline") return brake_command(args, *config);

  if (verb == "list" && args.size() == 1) {
    auto db = policy::UserDb::load(file);
    if (!db) {
      std::cerr << "hato: " << db.message() << "\n";
      return kExitFailed;
    }
    for (const auto& name : (*db)->names()) std::cout << name << "\n";
    return kExitOk;
  }
  if (verb == "remove" && args.size() == 2) {
    if (auto s = policy::write_user(file, args[1], ""); !s) {
      std::cerr << "hato: " << s.message() << "\n";
      return kExitFailed;
    }
    if (auto s = policy::write_user_role(policy::user_roles_path(file), args[1], ""); !s) {
      std::cerr << "hato: " << s.message() << "\n";
      return kExitFailed;
    }
    return tell_daemon(*config, "user " + args[1] + " removed from " + file);
  }
  if (verb == "add" && args.size() >= 2) return add_user(args, *config);
  std::cerr << kUserUsage;
  return kExitUsage;
}

}  // namespace hato::cli
