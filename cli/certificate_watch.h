// certificate_watch.h - the server certificate taken again when its files change.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/file_watch.h"
#include "common/loop.h"
#include "common/status.h"
#include "conf/config.h"
#include "net/tls.h"

namespace hato::cli {

// Watches the certificate and key files, so a renewal by certbot or lego is
// served to the next connection without a signal. Swaps only when the new pair
// loads and matches.
class CertificateWatch {
 public:
  CertificateWatch(Loop& loop, std::function<void(std::shared_ptr<net::TlsContext>)> swap);

  // A new pair was just written (ACME): take it now rather than at the next tick.
  void reload_now() { files_.check_now(); }
  void watch(const conf::Config& config, std::shared_ptr<net::TlsContext> current);

 private:
  Status load();

  FileWatch files_;
  std::function<void(std::shared_ptr<net::TlsContext>)> swap_;
  std::vector<net::CertificateFiles> files_of_;  // certificate and key first
};

}  // namespace hato::cli
