// certificate_watch.cc - a renewed certificate served without a signal, and its expiry reported.
#include "cli/certificate_watch.h"

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
  cert_ = config.tls.certificate;
  key_ = config.tls.key;
  report_expiry(current);
  files_.watch(cert_.empty() ? std::vector<std::string>{} : std::vector{cert_, key_});
}

Status CertificateWatch::load() {
  auto fresh = net::TlsContext::load_server(cert_, key_);
  if (!fresh) return fresh.status();
  swap_(*fresh);
  log::info("certificate reloaded", {{"file", cert_}});
  report_expiry(*fresh);
  return Status::ok();
}

}  // namespace hato::cli
