// user_cmd.cc - `hato user add|remove|list`: submission credentials in users_file.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "cli/commands.h"
#include "conf/config.h"
#include "policy/auth.h"

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

}  // namespace

int user_command(const std::vector<std::string>& args, const std::string& config_path) {
  if (args.empty()) {
    std::cerr << "usage: hato user add NAME [--password-stdin] | remove NAME | list\n";
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
    return kExitOk;
  }
  if (verb == "add" && (args.size() == 2 || (args.size() == 3 && args[2] == "--password-stdin"))) {
    std::string password;
    if (args.size() == 3) {
      std::getline(std::cin, password);
      if (!password.empty() && password.back() == '\r') password.pop_back();
    } else if (isatty(STDIN_FILENO)) {
      password = read_hidden("Password: ");
      if (read_hidden("Again: ") != password) {
        std::cerr << "hato: the passwords differ\n";
        return kExitFailed;
      }
    } else {
      std::cerr << "hato: not a terminal; use --password-stdin\n";
      return kExitUsage;
    }
    if (password.empty()) {
      std::cerr << "hato: empty password\n";
      return kExitFailed;
    }
    auto hash = policy::hash_password(password);
    if (!hash) {
      std::cerr << "hato: " << hash.message() << "\n";
      return kExitFailed;
    }
    if (auto s = policy::write_user(file, args[1], *hash); !s) {
      std::cerr << "hato: " << s.message() << "\n";
      return kExitFailed;
    }
    std::cerr << "hato: user " << args[1] << " saved in " << file << "\n";
    return kExitOk;
  }
  std::cerr << "usage: hato user add NAME [--password-stdin] | remove NAME | list\n";
  return kExitUsage;
}

}  // namespace hato::cli
