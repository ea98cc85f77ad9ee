// init_cmd.h - `hato init`: from "I own example.org and this server" to a working, commented
// hato.yaml with its DKIM keys, certificate and first submission user, and the DNS records to
// publish. Nothing is looked up: init works without a network.
#pragma once

#include <string>
#include <vector>

namespace hato::cli {

// `args` follow the word "init":
//   --domain D [--hostname H] [--public-ip A]... [--acme-email E] [--smarthost URL] [--mx]
//   [--data-dir DIR] [--login NAME] [--force]
// `config_path` is what -c/--config gave; empty: /etc/hato/hato.yaml. The keys, certificate,
// users file and smarthost password go into the config's directory. An existing config is
// kept unless --force; existing DKIM keys and certificate are always kept (they may be in DNS
// already). Returns 0 done, 1 failed (or the config exists), 2 usage.
int init_command(const std::vector<std::string>& args, const std::string& config_path);

// The usage text, also shown by `hato init --help`.
extern const char kInitUsage[];

}  // namespace hato::cli
