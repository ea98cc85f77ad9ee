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

// `config_path` is what -c gave (empty: the default search).
int serve(const std::string& config_path);
int user_command(const std::vector<std::string>& args, const std::string& config_path);

}  // namespace hato::cli
