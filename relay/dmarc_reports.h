// dmarc_reports.h - DMARC aggregate reports received at dmarc_reports.rua: read
// (policy/dmarc_report.h), counted into the state family and summarised for
// `hato dmarc summary`.
//
// A report is unpacked and parsed on a worker thread (up to 20 MiB of XML is work), then
// counted on the loop's thread, where all the state is touched.
//
// Counts are kept per domain, UTC day (of the report's date_range begin), reporter and source
// address (queue::state::dmarc_counts_key); a report whose reporter and report_id were seen
// before is not counted again. Each source is looked up once per domain, without blocking
// the loop: its PTR name and whether it passes the domain's own SPF record
// (dmarc_source_key). A source is "ours" when it is one of the egress addresses or passes
// that SPF check. Once a source's kind is known, its messages go to
// hato_dmarc_report_messages_total{domain,source_kind,result}, and two things are alerted on
// (a warning and hato_dmarc_alerts_total{kind}): one of our sources failing SPF or DKIM
// alignment at a receiver, and an unknown source whose messages in a day pass
// dmarc_reports.unknown_threshold.
#pragma once

#include <memory>
#include <string>

#include "common/loop.h"
#include "common/status.h"
#include "common/worker_pool.h"
#include "conf/config.h"
#include "net/resolver.h"
#include "policy/dmarc_report.h"
#include "policy/limiter.h"
#include "policy/spf/spf.h"

namespace hato::relay {

class DmarcReports {
 public:
  // New sources of one report looked up in DNS; the rest wait for a later report.
  static constexpr size_t kLookupsPerReport = 256;

  // Reports are read on `workers` (null: on the loop, for tests) and answers come back
  // through `loop`.
  DmarcReports(Loop& loop, WorkerPool* workers, net::Resolver& resolver, policy::StateStore& state,
               conf::ConfigPtr config);
  ~DmarcReports();
  DmarcReports(const DmarcReports&) = delete;
  DmarcReports& operator=(const DmarcReports&) = delete;

  void set_config(conf::ConfigPtr config) { config_ = std::move(config); }
  const std::string& rua() const { return config_->dmarc_reports.rua; }

  // A message delivered to the rua address (`id` is its queue ID, `from` its sender). A
  // report that cannot be read stays mail as it is: it is logged with the reason and
  // counted in hato_dmarc_reports_total{result="refused"}.
  void take(std::shared_ptr<const std::string> message, const std::string& id,
            const std::string& from);

  // The summary over the last `days` UTC days (today included), for one domain or ("")
  // all: one JSON object per line and (domain, source), in domain and address order.
  [[nodiscard]] Result<std::string> summary_json(const std::string& domain, int days);

 private:
  struct Source {
    bool known = false;
    std::string spf;  // the domain's own SPF result for the address
    std::string ptr;  // "" when it has none
  };
  // The report read (or why not), back on the loop: stored, counted, its sources classified.
  void count(Result<policy::dmarc_report::Report> report, const std::string& id,
             const std::string& from);
  Source stored_source(const std::string& domain, const std::string& ip);
  bool is_egress(const std::string& ip) const;
  // Looks the source up (PTR and SPF) unless it was before, then calls `done` with ours.
  // A lookup takes one of `*budget`; with none left the source is not looked up (and is not
  // ours unless an egress address), so one report cannot set off an unbounded number of
  // DNS queries.
  void classify(const std::string& domain, const std::string& ip, size_t* budget,
                std::function<void(bool ours)> done);
  void account(const std::string& id, const policy::dmarc_report::Report& report,
               const std::string& ip, const policy::dmarc_report::Counts& counts, bool ours);
  uint64_t day_messages(const std::string& domain, const std::string& day, const std::string& ip);

  Loop& loop_;
  WorkerPool* workers_;
  net::Resolver& resolver_;
  policy::StateStore& state_;
  conf::ConfigPtr config_;
  std::shared_ptr<policy::spf::SpfDns> spf_dns_;
  // Lookups still under way hold a weak copy: their answers are dropped once we are gone.
  std::shared_ptr<DmarcReports*> self_;
};

}  // namespace hato::relay
