// commands.h - the subcommands of the `hato` executable.
#pragma once

#include <string>
#include <vector>

namespace hato::cli {

// Exit statuses (INTERFACE.md).
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

// An option's value, "--flag=value" (then `flag` is cut to "--flag") or "--flag value" (then
// `i` moves past the value). False when no value follows.
inline bool take_option_value(const std::vector<std::string>& args, size_t& i, std::string& flag,
                              std::string& value) {
  if (size_t eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
    value = flag.substr(eq + 1);
    flag.resize(eq);
    return true;
  }
  if (i + 1 >= args.size()) return false;
  value = args[++i];
  return true;
}

// `config_path` is what -c gave (empty: the default search).
int serve(const std::string& config_path);
int user_command(const std::vector<std::string>& args, const std::string& config_path);

}  // namespace hato::cli
