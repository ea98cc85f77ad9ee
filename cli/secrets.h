// secrets.h - the files a configuration names and `hato serve` reads: the server certificate
// and key, the users file and the DKIM keys, private keys refused when every user may read
// them. One loader for the start, a reload (SIGHUP) and `hato config check`, so the check says
// ok only for what serve accepts.
#pragma once

#include <memory>

#include "common/status.h"
#include "conf/config.h"
#include "net/tls.h"
#include "policy/auth.h"
#include "policy/dkim/keyring.h"

namespace hato::cli {

struct Secrets {
  // Null when the configuration names no certificate, or when ACME is to issue one that is
  // not there yet (serve makes a self-signed one first).
  std::shared_ptr<net::TlsContext> tls;
  std::shared_ptr<const policy::UserDb> users;
  std::shared_ptr<const dkim::Keyring> keyring;
};

[[nodiscard]] Result<Secrets> load_secrets(const conf::Config& config);

// tls.certificate/key first, then tls.additional: what the server's TLS context loads.
std::vector<net::CertificateFiles> certificate_files(const conf::Config& config);

}  // namespace hato::cli
