// tlsrpt.h - SMTP TLS Reporting (RFC 8460): counting each outbound session's TLS result
// per destination domain and UTC day, and mailing the daily report to the domain's rua.
//
// Counts live in the store's state family (queue::state::tlsrpt_counts_key: by day, then
// domain), so a restart loses nothing, and a prefix scan over them finds what is pending
// (StateStore::scan; no index is kept beside them). Once an hour, days before
// today are reported: the `_smtp._tls.<domain>` TXT record is asked for, each mailto:
// rua gets a multipart/report (report-type=tlsrpt) with the JSON attached, handed to
// the Sender (the daemon queues it through the Enqueuer, which DKIM-signs it), and
// the day's counts are dropped whether or not the domain wants reports.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/loop.h"
#include "conf/config.h"
#include "net/resolver.h"
#include "policy/limiter.h"
#include "policy/tlsrpt.h"

namespace hato::relay {

class TlsReporter {
 public:
  // Queues one message from `from` to `to`.
  using Sender =
      std::function<void(const std::string& from, const std::string& to, std::string message)>;

  TlsReporter(Loop& loop, net::Resolver& resolver, policy::StateStore& state,
              conf::ConfigPtr config);
  void set_config(conf::ConfigPtr config) { config_ = std::move(config); }
  void set_sender(Sender sender) { sender_ = std::move(sender); }
  // Starts the hourly check for days to report.
  void start();

  // One session to `domain`: result_type "" for success.
  void record(const std::string& domain, const policy::tlsrpt::PolicyKey& policy,
              const std::string& result_type, const std::string& mx_host, const std::string& ip);

  // Reports every recorded day before today (and today too when asked: operators and
  // tests, through the admin API). Returns how many domain-days were taken.
  size_t send_reports(bool include_today);

  // The report message (exposed for tests).
  static std::string build_message(const std::string& from, const std::string& to,
                                   const std::string& organization,
                                   const policy::tlsrpt::ReportInfo& info, const std::string& json,
                                   int64_t now_ms);

 private:
  std::string organization() const;
  std::string from_address() const;
  void report(const std::string& day, const std::string& domain, policy::tlsrpt::DayCounts counts);

  net::Resolver& resolver_;
  policy::StateStore& state_;
  conf::ConfigPtr config_;
  Sender sender_;
  Timer timer_;
  std::map<std::string, policy::tlsrpt::DayCounts> counts_;  // by state key
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// TLS-RPT reception: the reports a locally delivered message carries (RFC 8460 5.3, json or
// gzip) go to the log and to hato_tlsrpt_received_failures_total{organization,result_type}.
// Returns how many reports were read. Thread-safe (runs on the worker pool with delivery).
size_t receive_tls_reports(const std::string& message, const std::string& id);

}  // namespace hato::relay
