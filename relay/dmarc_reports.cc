// dmarc_reports.cc - see dmarc_reports.h.
#include "relay/dmarc_reports.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/log.h"
#include "common/metrics.h"
#include "common/net.h"
#include "common/strings.h"
#include "queue/state_keys.h"

namespace hato::relay {

namespace dr = policy::dmarc_report;
namespace st = queue::state;

namespace {

Counter& reports_counter(const char* result) {
  return metrics().counter("hato_dmarc_reports_total",
                           "DMARC aggregate reports received at dmarc_reports.rua, by result "
                           "(counted, duplicate, refused)",
                           std::string("result=\"") + result + "\"");
}

Counter& messages_counter(const std::string& domain, bool ours, const char* result) {
  return metrics().counter(
      "hato_dmarc_report_messages_total",
      "Messages in DMARC aggregate reports, by our domain, source kind (ours, unknown) and "
      "DMARC result (pass, fail)",
      "domain=\"" + label_value(domain) + "\",source_kind=\"" + (ours ? "ours" : "unknown") +
          "\",result=\"" + result + "\"");
}

Counter& alerts_counter(const char* kind) {
  return metrics().counter("hato_dmarc_alerts_total",
                           "DMARC report alerts: our sources failing alignment (ours_failing), "
                           "unknown sources over the threshold (unknown_source)",
                           std::string("kind=\"") + kind + "\"");
}

}  // namespace

DmarcReports::DmarcReports(Loop& loop, WorkerPool* workers, net::Resolver& resolver,
                           policy::StateStore& state, conf::ConfigPtr config)
    : loop_(loop),
      workers_(workers),
      resolver_(resolver),
      state_(state),
      config_(std::move(config)),
      spf_dns_(policy::spf::make_resolver_spf_dns(resolver)),
      self_(std::make_shared<DmarcReports*>(this)) {
  for (const char* r : {"counted", "duplicate", "refused"}) reports_counter(r);
}

DmarcReports::~DmarcReports() = default;

void DmarcReports::take(std::shared_ptr<const std::string> message, const std::string& id,
                        const std::string& from) {
  if (!workers_) return count(dr::read_message(*message), id, from);
  // The answer is dropped if we are gone by the time it is back on the loop.
  std::weak_ptr<DmarcReports*> alive = self_;
  Loop* loop = &loop_;
  workers_->post([loop, alive, message = std::move(message), id, from] {
    auto report = std::make_shared<Result<dr::Report>>(dr::read_message(*message));
    loop->post([alive, report, id, from] {
      if (auto self = alive.lock()) (*self)->count(std::move(*report), id, from);
    });
  });
}

void DmarcReports::count(Result<dr::Report> report, const std::string& id,
                         const std::string& from) {
  if (!report) {
    reports_counter("refused").inc();
    log::warning("DMARC report refused, kept as mail",
                 {{"id", id}, {"from", from}, {"reason", report.status().message()}});
    return;
  }
  const dr::Report& r = *report;
  bool ours = std::any_of(config_->domains.begin(), config_->domains.end(),
                          [&](const conf::Domain& d) { return d.name == r.domain; });
  if (!ours) {
    reports_counter("refused").inc();
    log::warning("DMARC report refused, kept as mail",
                 {{"id", id},
                  {"from", from},
                  {"reason", "report for " + r.domain + ", not one of our domains"}});
    return;
  }
  std::string seen =
      st::dmarc_seen_key(st::escape_field(r.org_name), st::escape_field(r.report_id));
  if (state_.get(seen)) {
    reports_counter("duplicate").inc();
    log::info("DMARC report seen before, not counted again",
              {{"id", id}, {"reporter", r.org_name}, {"report_id", r.report_id}});
    return;
  }
  std::string day = dr::utc_day(r.begin);
  auto by_source = dr::counts_by_source(r);
  uint64_t messages = 0;
  for (const auto& [ip, counts] : by_source) {
    std::string key = st::dmarc_counts_key(r.domain, day, st::escape_field(r.org_name), ip);
    dr::Counts total;
    if (auto old = state_.get(key); old && !dr::Counts::parse(*old, &total)) total = {};
    total.add(counts);
    state_.put(key, total.serialize());
    messages += counts.messages;
  }
  state_.put(seen, std::to_string(log::now_ms()));
  reports_counter("counted").inc();
  log::info("DMARC report received", {{"id", id},
                                      {"reporter", r.org_name},
                                      {"report_id", r.report_id},
                                      {"domain", r.domain},
                                      {"day", day},
                                      {"sources", std::to_string(by_source.size())},
                                      {"messages", std::to_string(messages)}});
  auto shared = std::make_shared<dr::Report>(std::move(*report));
  size_t budget = kLookupsPerReport;
  for (const auto& [ip, counts] : by_source) {
    classify(shared->domain, ip, &budget,
             [this, id, shared, ip = ip, counts = counts](bool is_ours) {
               account(id, *shared, ip, counts, is_ours);
             });
  }
}

DmarcReports::Source DmarcReports::stored_source(const std::string& domain, const std::string& ip) {
  Source s;
  auto value = state_.get(st::dmarc_source_key(domain, ip));
  if (!value) return s;
  s.known = true;
  size_t space = value->find(' ');
  s.spf = value->substr(0, space);
  s.ptr = space == std::string::npos ? "" : value->substr(space + 1);
  if (s.ptr == "-") s.ptr.clear();
  return s;
}

bool DmarcReports::is_egress(const std::string& ip) const {
  return std::any_of(config_->egress.begin(), config_->egress.end(),
                     [&](const conf::Egress& e) { return e.address.ip() == ip; });
}

// classify - the PTR name and the domain's SPF verdict for `ip`, asked for together the
// first time a domain's report names the address, and kept.
void DmarcReports::classify(const std::string& domain, const std::string& ip, size_t* budget,
                            std::function<void(bool ours)> done) {
  Source known = stored_source(domain, ip);
  if (known.known) return done(is_egress(ip) || known.spf == "pass");
  auto address = SocketAddress::parse(ip, 0);
  if (!address || *budget == 0) return done(is_egress(ip));
  --*budget;
  struct Pending {
    int left = 2;
    std::string spf = "none", ptr;
  };
  auto pending = std::make_shared<Pending>();
  std::weak_ptr<DmarcReports*> alive = self_;
  auto finish = [alive, pending, domain, ip, done = std::move(done)] {
    if (--pending->left > 0) return;
    auto self = alive.lock();
    if (!self) return;
    DmarcReports* me = *self;
    me->state_.put(st::dmarc_source_key(domain, ip),
                   pending->spf + " " + (pending->ptr.empty() ? "-" : pending->ptr));
    done(me->is_egress(ip) || pending->spf == "pass");
  };
  resolver_.ptr(*address, [pending, finish](net::PtrResult r) {
    if (r.status == net::DnsStatus::kOk && !r.names.empty()) {
      std::string name = r.names.front();
      if (!name.empty() && name.back() == '.') name.pop_back();
      pending->ptr = name.find(' ') == std::string::npos ? name : "";
    }
    finish();
  });
  policy::spf::SpfOptions options;
  options.receiver = config_->hostname.empty() ? "unknown" : config_->hostname;
  policy::spf::SpfRequest request{*address, domain, "postmaster@" + domain, domain};
  policy::spf::check_host(spf_dns_, options, request, [pending, finish](policy::spf::SpfOutcome o) {
    pending->spf = policy::spf::spf_result_name(o.result);
    finish();
  });
}

uint64_t DmarcReports::day_messages(const std::string& domain, const std::string& day,
                                    const std::string& ip) {
  uint64_t total = 0;
  std::string prefix = st::dmarc_counts_prefix(domain) + day + "/";
  (void)state_.scan(prefix, [&](std::string_view key, std::string_view value) {
    auto parsed = st::parse_key(key);
    dr::Counts c;
    if (parsed && parsed->fields[3] == ip && dr::Counts::parse(value, &c)) total += c.messages;
    return true;
  });
  return total;
}

// account - a source's messages of one report, now that its kind is known: the metric, and
// the alerts.
void DmarcReports::account(const std::string& id, const dr::Report& report, const std::string& ip,
                           const dr::Counts& counts, bool ours) {
  messages_counter(report.domain, ours, "pass").inc(counts.dmarc_pass);
  messages_counter(report.domain, ours, "fail").inc(counts.dmarc_fail);
  if (ours && (counts.spf_fail > 0 || counts.dkim_fail > 0)) {
    alerts_counter("ours_failing").inc();
    log::warning("DMARC alert: our address fails alignment at a receiver",
                 {{"id", id},
                  {"domain", report.domain},
                  {"source", ip},
                  {"reporter", report.org_name},
                  {"messages", std::to_string(counts.messages)},
                  {"spf_fail", std::to_string(counts.spf_fail)},
                  {"dkim_fail", std::to_string(counts.dkim_fail)},
                  {"dmarc_fail", std::to_string(counts.dmarc_fail)}});
  }
  if (ours) return;
  // Once per source and day: when this report takes the day's total over the threshold.
  uint64_t threshold = config_->dmarc_reports.unknown_threshold;
  std::string day = dr::utc_day(report.begin);
  uint64_t total = day_messages(report.domain, day, ip);
  if (total > threshold && total - counts.messages <= threshold) {
    alerts_counter("unknown_source").inc();
    log::warning("DMARC alert: an unknown source sends as our domain",
                 {{"id", id},
                  {"domain", report.domain},
                  {"source", ip},
                  {"reporter", report.org_name},
                  {"day", day},
                  {"messages", std::to_string(total)},
                  {"threshold", std::to_string(threshold)}});
  }
}

}  // namespace hato::relay
