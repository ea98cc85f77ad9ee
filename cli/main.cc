// main.cc - `hato`: the daemon and its command-line tools in one executable.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/backup_cmd.h"
#include "cli/blacklist_cmd.h"
#include "cli/commands.h"
#include "cli/dkim_cmd.h"
#include "cli/dmarc_cmd.h"
#include "cli/dns_cmd.h"
#include "cli/events_cmd.h"
#include "cli/init_cmd.h"
#include "cli/queue_cmd.h"
#include "cli/secrets.h"
#include "cli/suppress_cmd.h"
#include "cli/warmup_cmd.h"
#include "conf/config.h"
#include "conf/config_keys.h"

namespace {

const char kUsage[] =
    "usage: hato [-c FILE] COMMAND ...\n"
    "  init --domain D [--hostname H] [--public-ip A]... [--acme-email E] [--smarthost URL]\n"
    "       [--mx] [--data-dir DIR] [--login NAME] [--force]\n"
    "                                 write FILE for a new server (default\n"
    "                                 /etc/hato/hato.yaml), its DKIM keys and first login;\n"
    "                                 print the DNS records to publish (`init --help`)\n"
    "  serve                          run the relay in the foreground\n"
    "  config check                   validate the configuration\n"
    "  user add NAME [--password-stdin] | user remove NAME | user list\n"
    "  user frozen | user thaw NAME | user baseline NAME MESSAGES RECIPIENTS\n"
    "                                 the sending brake (limits.brake): frozen users, release\n"
    "                                 one and its held mail, set what it normally sends\n"
    "  queue ls|show|cat|tail|summary|flush|hold|release|delete|bounce ...\n"
    "                                 inspect and steer the queue of the running daemon\n"
    "  warmup status [--json]         warm-up day, today's limit and sent count per egress\n"
    "  events status [--json]         webhook backlog, last success and failure per hook\n"
    "  blacklist status|check [--json]  egress addresses and domains on DNS blocklists;\n"
    "                                 check looks them up now\n"
    "  suppress ls [--domain D] [--json] | add ADDR [--reason R] [--domain D] | remove ADDR\n"
    "           | import FILE.csv | export   recipients that get no more mail (CSV for\n"
    "                                 import and export)\n"
    "  dmarc summary [--domain D] [--days N] [--json]\n"
    "                                 DMARC aggregate reports received: per source address,\n"
    "                                 SPF, DKIM and DMARC results and who reported them\n"
    "  dkim keygen --domain D --selector S [--algorithm rsa-sha256|ed25519-sha256]\n"
    "              [--bits N] [--out FILE]  make a DKIM key and print its DNS record\n"
    "  dns records|check [--domain D]  the DNS records a domain needs, and whether DNS has them\n"
    "  backup create DIR | backup restore DIR [--force]\n"
    "                                 copy the running daemon's queue; put a copy back\n"
    "FILE defaults to ./hato.yaml, then /etc/hato/hato.yaml; without either,\n"
    "`serve` runs the embedded development default.\n";

int usage() {
  std::fputs(kUsage, stderr);
  return hato::cli::kExitUsage;
}

// Loads the configuration for commands that need one; prints the problems.
hato::conf::ConfigPtr load_or_report(const std::string& given) {
  std::string path = hato::conf::find_config_file(given);
  if (path.empty()) return hato::conf::embedded_default();
  auto loaded = hato::conf::load_file(path);
  for (const auto& e : loaded.errors) std::cerr << e << "\n";
  return loaded.ok() ? loaded.config : nullptr;
}

int config_check(const std::string& given) {
  std::string path = hato::conf::find_config_file(given);
  if (path.empty()) {
    std::cerr << "hato: no configuration file (looked for ./hato.yaml and /etc/hato/hato.yaml)\n";
    return hato::cli::kExitUsage;
  }
  auto loaded = hato::conf::load_file(path);
  for (const auto& e : loaded.errors) std::cerr << e << "\n";
  if (!loaded.ok()) return hato::cli::kExitUsage;
  // What serve reads besides the YAML: a key it would refuse fails the check too.
  if (auto secrets = hato::cli::load_secrets(*loaded.config); !secrets) {
    std::cerr << path << ": " << secrets.message() << "\n";
    return hato::cli::kExitFailed;
  }
  std::cout << path << ": ok\n";
  return hato::cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" || a == "--config") {
      if (i + 1 == argc) return usage();
      config_path = argv[++i];
    } else if ((a == "-h" || a == "--help") && !words.empty() && words[0] == "init") {
      words.push_back(a);  // init explains its options itself
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      words.push_back(a);
    }
  }
  if (words.empty()) return usage();
  const std::string& cmd = words[0];
  std::vector<std::string> rest(words.begin() + 1, words.end());
  if (cmd == "init") return hato::cli::init_command(rest, config_path);
  if (cmd == "serve" && rest.empty()) return hato::cli::serve(config_path);
  if (cmd == "config" && rest.size() == 1 && rest[0] == "check") return config_check(config_path);
  // Not in the usage: for the hato.yaml(5) test and shell completion.
  if (cmd == "config" && rest.size() == 1 && rest[0] == "keys") {
    for (const auto& key : hato::conf::accepted_keys()) std::cout << key << "\n";
    return hato::cli::kExitOk;
  }
  if (cmd == "user") return hato::cli::user_command(rest, config_path);
  if (cmd == "queue") {
    auto config = load_or_report(config_path);
    if (!config) return hato::cli::kExitUsage;
    return hato::cli::queue_command(rest, *config);
  }
  if (cmd == "dkim") return hato::cli::dkim_command(rest);
  if (cmd == "warmup") {
    auto config = load_or_report(config_path);
    if (!config) return hato::cli::kExitUsage;
    return hato::cli::warmup_command(rest, *config);
  }
  if (cmd == "events") {
    auto config = load_or_report(config_path);
    if (!config) return hato::cli::kExitUsage;
    return hato::cli::events_command(rest, *config);
  }
  if (cmd == "dns" || cmd == "backup") {
    auto config = load_or_report(config_path);
    if (!config) return hato::cli::kExitUsage;
    return cmd == "dns" ? hato::cli::dns_command(rest, *config)
                        : hato::cli::backup_command(rest, *config);
  }
  if (cmd == "suppress") {
    auto config = load_or_report(config_path);
    if (!config) return hato::cli::kExitUsage;
    return hato::cli::suppress_command(rest, *config);
  }
  if (cmd == "dmarc") {
    auto config = load_or_report(config_path);
    if (!config) return hato::cli::kExitUsage;
    return hato::cli::dmarc_command(rest, *config);
  }
  if (cmd == "blacklist") {
    auto config = load_or_report(config_path);
    if (!config) return hato::cli::kExitUsage;
    return hato::cli::blacklist_command(rest, *config);
  }
  return usage();
}
