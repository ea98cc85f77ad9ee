// dkim_cmd.cc - `hato dkim keygen`: generate, write with dkim::write_private_key (mode 0600,
// never over an existing file: that one may be the key in DNS), print the record to publish.
#include "cli/dkim_cmd.h"

#include <sys/stat.h>

#include <iostream>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "policy/dkim/key.h"

namespace hato::cli {

namespace {

const char kUsage[] =
    "usage: hato dkim keygen --domain D --selector S [--algorithm rsa-sha256|ed25519-sha256]\n"
    "                        [--bits N] [--out FILE]\n";

int usage(const std::string& problem = "") {
  if (!problem.empty()) std::cerr << "hato: " << problem << "\n";
  std::cerr << kUsage;
  return kExitUsage;
}

int keygen(const std::vector<std::string>& args) {
  std::string domain, selector, out;
  dkim::Algorithm alg = dkim::Algorithm::kRsaSha256;
  std::optional<int> bits;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    if (flag == "-h" || flag == "--help") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (!take_option_value(args, i, flag, value)) return usage(flag + " needs a value");
    if (flag == "--domain") {
      domain = value;
    } else if (flag == "--selector") {
      selector = value;
    } else if (flag == "--out") {
      out = value;
    } else if (flag == "--algorithm") {
      auto parsed = dkim::parse_algorithm(value);
      if (!parsed) return usage("unknown algorithm '" + value + "'");
      alg = *parsed;
    } else if (flag == "--bits") {
      int n = 0;
      try {
        size_t used = 0;
        n = std::stoi(value, &used);
        if (used != value.size()) n = 0;
      } catch (const std::exception&) {
      }
      if (n < dkim::kMinRsaBits || n > dkim::kMaxRsaBits) {
        return usage("--bits must be 1024 to 4096");
      }
      bits = n;
    } else {
      return usage("unknown option " + flag);
    }
  }
  if (domain.empty() || selector.empty()) return usage("--domain and --selector are required");
  while (!domain.empty() && domain.back() == '.') domain.pop_back();
  if (!dkim::valid_dns_name(domain)) return usage("bad domain '" + domain + "'");
  if (!dkim::valid_dns_name(selector)) return usage("bad selector '" + selector + "'");
  if (bits && alg != dkim::Algorithm::kRsaSha256) return usage("--bits is for RSA keys only");
  if (out.empty()) out = domain + "." + selector + ".pem";

  // Refuse before the (slow, for RSA 4096) generation when the file is already there.
  struct stat st;
  if (::lstat(out.c_str(), &st) == 0) {
    std::cerr << "hato: " << out << " exists; not overwriting it\n";
    return kExitFailed;
  }
  auto record = new_dkim_key(out, domain, selector, alg, bits.value_or(dkim::kDefaultRsaBits));
  if (!record) {
    std::cerr << "hato: " << record.message() << "\n";
    return kExitFailed;
  }
  std::cout << *record << std::endl;
  std::cerr << "hato: private key written to " << out << " (mode 0600); publish the record above"
            << "\n";
  return kExitOk;
}

}  // namespace

Result<std::string> new_dkim_key(const std::string& out, const std::string& domain,
                                 const std::string& selector, dkim::Algorithm alg, int bits) {
  auto pem = dkim::generate_key_pem(alg, bits);
  if (!pem) return pem.status();
  // Parse back what will be written: the record comes from the very key in the file.
  auto key = dkim::parse_key(*pem, domain, selector, alg);
  if (!key) return key.status();
  if (auto s = dkim::write_private_key(out, *pem); !s) return s;
  return dkim::zone_txt_line(dkim::key_record_name(selector, domain),
                             dkim::public_key_record(*key));
}

int dkim_command(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "keygen") return keygen(args);
  return usage();
}

}  // namespace hato::cli
