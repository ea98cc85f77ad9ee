// secrets.cc - see secrets.h.
#include "cli/secrets.h"

#include <filesystem>

#include "cli/privileges.h"

namespace hato::cli {

Result<Secrets> load_secrets(const conf::Config& config) {
  if (auto s = check_key_files(config); !s) return s;
  Secrets out;
  bool acme_pending = config.tls.acme && !std::filesystem::exists(config.tls.certificate);
  if (!config.tls.certificate.empty() && !acme_pending) {
    auto tls = net::TlsContext::load_server(certificate_files(config));
    if (!tls) return tls.status();
    out.tls = *tls;
  }
  auto users = policy::UserDb::load(config.users_file);
  if (!users) return users.status();
  out.users = *users;
  auto keyring = dkim::Keyring::load(config);
  if (!keyring) return Status::error("DKIM: " + keyring.message());
  out.keyring = *keyring;
  return out;
}

std::vector<net::CertificateFiles> certificate_files(const conf::Config& config) {
  std::vector<net::CertificateFiles> out{{config.tls.certificate, config.tls.key}};
  for (const auto& pair : config.tls.additional) out.push_back({pair.certificate, pair.key});
  return out;
}

}  // namespace hato::cli
