// certificate_watch.cc - a renewed certificate served without a signal, and its expiry reported.
#include "cli/certificate_watch.h"

#include "cli/secrets.h"
#include "common/log.h"
#include "common/metrics.h"

namespace hato::cli {

namespace {

// The expiry as a metric, and a warning while under 14 days.
void report_expiry(const std::shared_ptr<net::TlsContext>& tls) {
  if (!tls || !tls->not_after()) return;
  int64_t left = tls->not_after() - log::now_ms() / 1000;
  metrics()
      .gauge("hato_tls_certificate_expiry_seconds", "Seconds until the TLS certificate expires")
      .set(left);
  if (left < 14 * 86400)
    log::warning("certificate expires soon", {{"days", std::to_string(left / 86400)}});
}

}  // namespace

CertificateWatch::CertificateWatch(Loop& loop,
                                   std::function<void(std::shared_ptr<net::TlsContext>)> swap)
    : files_(loop, "certificate", [this] { return load(); }), swap_(std::move(swap)) {}

void CertificateWatch::watch(const conf::Config& config, std::shared_ptr<net::TlsContext> current) {
  files_of_.clear();
  std::vector<std::string> paths;
  if (!config.tls.certificate.empty()) {
    files_of_ = certificate_files(config);
    for (const auto& pair : files_of_) {
      paths.push_back(pair.certificate);
      paths.push_back(pair.key);
    }
  }
  report_expiry(current);
  files_.watch(paths);
}

Status CertificateWatch::load() {
  auto fresh = net::TlsContext::load_server(files_of_);
  if (!fresh) return fresh.status();
  swap_(*fresh);
  log::info("certificate reloaded", {{"file", files_of_.front().certificate}});
  report_expiry(*fresh);
  return Status::ok();
}

}  // namespace hato::cli
