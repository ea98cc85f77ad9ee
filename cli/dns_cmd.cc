// dns_cmd.cc - `hato dns records|check`: the configuration turned into a DomainPlan
// (policy/dns_records.h does the judging), and a DnsSource over the daemon's own c-ares
// resolver, asking the servers of `dns.servers` exactly as delivery does.
//
// The resolver is asynchronous; a command-line tool may wait, so each lookup runs the loop
// until its answer is in. The SPF walk needs answers one after another anyway.
#include "cli/dns_cmd.h"
#include "cli/output.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "cli/commands.h"
#include "common/loop.h"
#include "net/resolver.h"
#include "policy/dkim/key.h"
#include "policy/dns_records.h"

namespace hato::cli {

namespace {

const char kUsage[] =
    "usage: hato dns records [--domain D]\n"
    "       hato dns check [--domain D]\n";

int usage(const std::string& problem = "") {
  if (!problem.empty()) std::cerr << "hato: " << problem << "\n";
  std::cerr << kUsage;
  return kExitUsage;
}

policy::DnsAnswer failed(net::DnsStatus status, const std::string& error) {
  std::string why = net::dns_status_name(status);
  if (!error.empty()) why += " (" + error + ")";
  return {policy::DnsOutcome::kFailed, {}, why};
}

// The DnsStatus of a result as DnsOutcome, with `values` filled by the caller when found.
policy::DnsAnswer outcome(net::DnsStatus status, const std::string& error) {
  switch (status) {
    case net::DnsStatus::kOk:
      return {policy::DnsOutcome::kFound, {}, ""};
    case net::DnsStatus::kNoData:
    case net::DnsStatus::kNxDomain:
      return {policy::DnsOutcome::kNone, {}, ""};
    default:
      return failed(status, error);
  }
}

// Answers from the c-ares resolver, one lookup at a time. After a few timeouts in a row the
// servers are taken to be unreachable and the remaining lookups fail at once: otherwise a dead
// resolver costs every check its full timeout, a minute in all.
class ResolverSource final : public policy::DnsSource {
 public:
  explicit ResolverSource(const conf::Config& config) {
    net::ResolverOptions options;
    options.servers = config.dns_servers;
    resolver_ = net::make_cares_resolver(loop_, options);
  }

  policy::DnsAnswer txt(const std::string& name) override {
    auto r = wait<net::TxtResult>([&](auto done) { resolver_->txt(name, std::move(done)); });
    policy::DnsAnswer a = outcome(r.status, r.error);
    a.values = std::move(r.records);
    return a;
  }

  policy::DnsAnswer mx(const std::string& domain) override {
    auto r = wait<net::MxResult>([&](auto done) { resolver_->mx(domain, std::move(done)); });
    std::stable_sort(r.records.begin(), r.records.end(),
                     [](const auto& x, const auto& y) { return x.preference < y.preference; });
    policy::DnsAnswer a = outcome(r.status, r.error);
    for (auto& record : r.records) a.values.push_back(std::move(record.host));
    return a;
  }

  policy::DnsAnswer addresses(const std::string& host) override {
    auto r =
        wait<net::AddressResult>([&](auto done) { resolver_->addresses(host, std::move(done)); });
    policy::DnsAnswer a = outcome(r.status, r.error);
    for (const auto& address : r.addresses) a.values.push_back(address.ip());
    return a;
  }

  policy::DnsAnswer ptr(const std::string& ip) override {
    auto address = SocketAddress::parse(ip, 0);
    if (!address) return {policy::DnsOutcome::kFailed, {}, address.message()};
    auto r = wait<net::PtrResult>([&](auto done) { resolver_->ptr(*address, std::move(done)); });
    policy::DnsAnswer a = outcome(r.status, r.error);
    a.values = std::move(r.names);
    return a;
  }

 private:
  // Asks, then runs the loop until the answer arrives (it always does: the resolver times out).
  template <typename R>
  R wait(const std::function<void(std::function<void(R)>)>& ask) {
    if (timeouts_ >= kGiveUpAfterTimeouts) {
      R given_up;
      given_up.status = net::DnsStatus::kTimeout;
      given_up.error = "not asked: the servers stopped answering";
      return given_up;
    }
    std::optional<R> answer;
    ask([&](R r) {
      answer = std::move(r);
      loop_.stop();
    });
    while (!answer) loop_.run();
    timeouts_ = answer->status == net::DnsStatus::kTimeout ? timeouts_ + 1 : 0;
    return std::move(*answer);
  }

  static constexpr int kGiveUpAfterTimeouts = 2;
  int timeouts_ = 0;  // in a row
  Loop loop_;         // before the resolver, which registers on it and must go first
  std::unique_ptr<net::Resolver> resolver_;
};

// The part of the plan the served MTA-STS policy comes from, so that `dns records` and the
// policy Hato serves cannot disagree.
policy::DomainPlan mta_sts_plan(const conf::Config& config, const conf::Domain& d) {
  policy::DomainPlan plan;
  plan.domain = d.name;
  plan.hostname = config.hostname;
  plan.mta_sts_mode = config.mta_sts.mode;
  plan.mta_sts_max_age = config.mta_sts.max_age;
  plan.mta_sts_mx = config.mta_sts.mx;
  return plan;
}

// What the configuration says domain `d` should publish. Keys that cannot be read are left
// out of the plan and reported in `key_errors`, one Finding each.
policy::DomainPlan make_plan(const conf::Config& config, const conf::Domain& d,
                             std::vector<policy::Finding>* key_errors) {
  policy::DomainPlan plan = mta_sts_plan(config, d);
  plan.receives = std::any_of(config.listeners.begin(), config.listeners.end(),
                              [](const auto& l) { return l.role == conf::ListenerRole::kInbound; });
  for (const auto& e : config.egress) {
    plan.egress.push_back({e.address.ip(), e.helo.empty() ? config.hostname : e.helo});
  }
  for (const auto& k : d.dkim) {
    std::string name = dkim::key_record_name(k.selector, d.name);
    auto alg = dkim::parse_algorithm(k.algorithm);
    Result<dkim::DkimKey> key =
        alg ? dkim::load_key(k.key_file, d.name, k.selector, *alg)
            : Result<dkim::DkimKey>::error("unknown algorithm " + k.algorithm);
    if (!key) {
      key_errors->push_back({"DKIM " + k.selector,
                             name,
                             policy::Verdict::kFailed,
                             "cannot read the configured key: " + key.message(),
                             "",
                             {}});
      continue;
    }
    plan.dkim.push_back({k.selector, dkim::public_key_record(*key), k.key_file});
  }
  return plan;
}

std::string servers_text(const conf::Config& config) {
  if (config.dns_servers.empty()) return "the servers of /etc/resolv.conf";
  std::string out;
  for (const auto& s : config.dns_servers) out += (out.empty() ? "" : ", ") + s.to_string();
  return out;
}

int records(const conf::Config& config, const std::vector<const conf::Domain*>& domains) {
  int status = kExitOk;
  for (const conf::Domain* d : domains) {
    std::vector<policy::Finding> key_errors;
    policy::DomainPlan plan = make_plan(config, *d, &key_errors);
    for (const auto& e : key_errors) {
      std::cerr << "hato: " << e.name << ": " << e.detail << "\n";
      status = kExitFailed;
    }
    std::cout << "; Records for " << d->name << " (`hato dns records`, from " << config.source
              << ").\n; `hato dns check --domain " << d->name
              << "` verifies them once published.\n";
    for (const auto& r : policy::required_records(plan)) {
      std::cout << "\n";
      for (const auto& c : r.comments) std::cout << "; " << c << "\n";
      std::cout << policy::zone_line(r) << "\n";
    }
    if (domains.size() > 1) std::cout << "\n";
  }
  std::cout << std::flush;
  return status;
}

void print(const policy::Finding& f) {
  std::printf("%-8s %-10s %s: %s\n", policy::verdict_name(f.verdict), f.check.c_str(),
              printable(f.name).c_str(), printable(f.detail).c_str());
  if (!f.fix.empty()) std::printf("%-8s fix: %s\n", "", printable(f.fix).c_str());
  for (const auto& note : f.notes) std::printf("%-8s note: %s\n", "", printable(note).c_str());
}

int check(const conf::Config& config, const std::vector<const conf::Domain*>& domains) {
  ResolverSource dns(config);
  size_t bad = 0;
  for (const conf::Domain* d : domains) {
    std::printf("%s: asking %s\n", d->name.c_str(), servers_text(config).c_str());
    std::vector<policy::Finding> findings;
    policy::DomainPlan plan = make_plan(config, *d, &findings);
    std::vector<policy::Finding> checked = policy::check_domain(plan, dns);
    size_t unanswered = 0;  // lookups that failed, as opposed to unreadable keys
    for (const auto& f : checked) unanswered += f.verdict == policy::Verdict::kFailed;
    findings.insert(findings.end(), checked.begin(), checked.end());
    size_t domain_bad = 0;
    bool fixes = false;
    for (const auto& f : findings) {
      print(f);
      domain_bad += policy::finding_fails(f);
      fixes |= !f.fix.empty();
    }
    if (domain_bad == 0) {
      std::printf("%s: every record is in order\n", d->name.c_str());
    } else {
      std::string advice = fixes ? "; publish the fix lines above" : "";
      if (unanswered > 0) {
        advice +=
            "; " + std::to_string(unanswered) + " could not be checked (is dns.servers right?)";
      }
      std::printf("%s: %zu of %zu checks not ok%s\n", d->name.c_str(), domain_bad, findings.size(),
                  advice.c_str());
    }
    bad += domain_bad;
  }
  std::fflush(stdout);
  return bad == 0 ? kExitOk : kExitFailed;
}

}  // namespace

int dns_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty() || (args[0] != "records" && args[0] != "check")) {
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help" || args[0] == "help")) {
      std::cout << kUsage;
      return kExitOk;
    }
    return usage();
  }
  std::string domain;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--domain" && i + 1 < args.size()) {
      domain = args[++i];
    } else if (a.starts_with("--domain=")) {
      domain = a.substr(9);
    } else {
      return usage("unexpected argument " + a);
    }
  }
  std::vector<const conf::Domain*> domains;
  if (!domain.empty()) {
    while (!domain.empty() && domain.back() == '.') domain.pop_back();
    const conf::Domain* d = config.find_domain(domain);
    if (!d) return usage(domain + " is not a domain of " + config.source);
    domains.push_back(d);
  } else {
    for (const auto& d : config.domains) domains.push_back(&d);
  }
  if (domains.empty()) return usage("no domains in " + config.source);
  return args[0] == "records" ? records(config, domains) : check(config, domains);
}

std::string hosted_mta_sts_policy(const conf::Config& config, const conf::Domain& d) {
  return policy::mta_sts_policy(mta_sts_plan(config, d));
}

}  // namespace hato::cli
