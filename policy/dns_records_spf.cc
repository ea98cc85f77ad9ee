// dns_records_spf.cc - SPF for `hato dns check`: policy/spf's check_host() run over a
// synchronous DnsSource, the lookup cost of a record, and the smallest fix to a record.
#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "common/net.h"
#include "common/strings.h"
#include "policy/dns_records.h"
#include "policy/dns_records_internal.h"
#include "policy/spf/record.h"

namespace hato::policy {

using dns_detail::bare_name;
using dns_detail::join;
using dns_detail::outcome_error;
using dns_detail::split_spaces;

namespace {

// Past this many lookups the cost is reported as it stands: the record is far over the limit.
constexpr int kSpfCostCeiling = 50;

net::DnsStatus status_of(const DnsAnswer& answer) {
  switch (answer.outcome) {
    case DnsOutcome::kFound:
      return net::DnsStatus::kOk;
    case DnsOutcome::kNone:
      return net::DnsStatus::kNoData;
    case DnsOutcome::kFailed:
      break;
  }
  return net::DnsStatus::kServFail;
}

// spf::check_host() over a synchronous DnsSource. SpfDns promises answers later, never inside
// the call that asked, so questions queue up and run() answers them one by one until none are
// left (check_host() asks its next questions from inside the answers).
class QueuedSpfDns final : public spf::SpfDns {
 public:
  explicit QueuedSpfDns(DnsSource& dns) : dns_(dns) {}

  void txt(const std::string& name, std::function<void(net::TxtResult)> done) override {
    later([this, name, done = std::move(done)] {
      DnsAnswer answer = dns_.txt(name);
      net::TxtResult r;
      r.status = status_of(answer);
      r.records = answer.values;
      r.error = answer.error;
      done(std::move(r));
    });
  }
  void a(const std::string& name, std::function<void(net::AddressResult)> done) override {
    addresses(name, AF_INET, std::move(done));
  }
  void aaaa(const std::string& name, std::function<void(net::AddressResult)> done) override {
    addresses(name, AF_INET6, std::move(done));
  }
  void mx(const std::string& name, std::function<void(net::MxResult)> done) override {
    later([this, name, done = std::move(done)] {
      DnsAnswer answer = dns_.mx(name);
      net::MxResult r;
      r.status = status_of(answer);
      r.error = answer.error;
      uint16_t preference = 0;  // the values come in preference order
      for (const auto& host : answer.values) r.records.push_back({preference++, host});
      done(std::move(r));
    });
  }
  void ptr(const SocketAddress& ip, std::function<void(net::PtrResult)> done) override {
    later([this, ip, done = std::move(done)] {
      DnsAnswer answer = dns_.ptr(ip.ip());
      net::PtrResult r;
      r.status = status_of(answer);
      r.names = answer.values;
      r.error = answer.error;
      done(std::move(r));
    });
  }

  void run() {
    while (!pending_.empty()) {
      std::function<void()> next = std::move(pending_.front());
      pending_.pop_front();
      next();
    }
  }

 private:
  void later(std::function<void()> work) { pending_.push_back(std::move(work)); }

  void addresses(const std::string& name, int family,
                 std::function<void(net::AddressResult)> done) {
    later([this, name, family, done = std::move(done)] {
      DnsAnswer answer = dns_.addresses(name);
      net::AddressResult r;
      r.status = status_of(answer);
      r.error = answer.error;
      for (const auto& text : answer.values) {
        auto address = SocketAddress::parse(text, 0);
        if (address && address->family() == family) r.addresses.push_back(*address);
      }
      if (r.status == net::DnsStatus::kOk && r.addresses.empty()) {
        r.status = net::DnsStatus::kNoData;
      }
      done(std::move(r));
    });
  }

  DnsSource& dns_;
  std::deque<std::function<void()>> pending_;
};

// The domain a macro string names when it has no macros in it; nullopt when it has.
std::optional<std::string> literal_domain(const spf::MacroString& spec) {
  std::string out;
  for (const auto& piece : spec.pieces) {
    if (piece.kind == spf::MacroPiece::Kind::kExpand) return std::nullopt;
    out += piece.text;
  }
  return bare_name(out);
}

// The one SPF record among a name's TXT records, or why there is not one.
struct SpfFetch {
  std::optional<spf::Record> record;
  std::string why;
};

SpfFetch fetch_spf(const std::string& domain, DnsSource& dns) {
  DnsAnswer txt = dns.txt(domain);
  if (txt.outcome == DnsOutcome::kFailed) {
    return {std::nullopt, "TXT " + domain + ": " + outcome_error(txt)};
  }
  std::vector<std::string> records;
  for (const auto& v : txt.values) {
    if (spf::is_spf_record(v)) records.push_back(v);
  }
  if (records.empty()) return {std::nullopt, domain + " has no SPF record"};
  if (records.size() > 1) {
    return {std::nullopt, domain + " has " + std::to_string(records.size()) + " SPF records"};
  }
  auto parsed = spf::parse_record(records[0]);
  if (!parsed) return {std::nullopt, domain + ": " + parsed.message()};
  return {std::move(parsed).value(), ""};
}

void add_cost(const std::string& domain, DnsSource& dns, std::vector<std::string>& chain,
              SpfCost& cost) {
  if (cost.lookups > kSpfCostCeiling) return;
  SpfFetch fetched = fetch_spf(domain, dns);
  if (!fetched.record) {
    cost.errors.push_back(fetched.why);
    return;
  }
  const spf::Record& record = *fetched.record;
  chain.push_back(domain);
  auto follow = [&](const spf::MacroString& spec, const std::string& how) {
    std::optional<std::string> target = literal_domain(spec);
    if (!target) return;  // depends on the sender: cannot be followed here
    if (std::find(chain.begin(), chain.end(), *target) != chain.end()) {
      cost.errors.push_back(how + " loops back to " + *target);
      return;
    }
    add_cost(*target, dns, chain, cost);
  };
  bool has_all = false;
  for (const auto& m : record.mechanisms) {
    if (m.queries_dns()) ++cost.lookups;
    if (m.kind == spf::Mechanism::Kind::kAll) has_all = true;
    if (m.kind == spf::Mechanism::Kind::kInclude && m.domain) {
      follow(*m.domain, m.text + " in " + domain);
    }
  }
  // redirect= is ignored when the record has an all term (RFC 7208 6.1).
  if (record.redirect && !has_all) {
    ++cost.lookups;
    follow(*record.redirect, "redirect= in " + domain);
  }
  chain.pop_back();
}

}  // namespace

spf::SpfOutcome evaluate_spf(const std::string& domain, const std::string& ip, DnsSource& dns) {
  auto address = SocketAddress::parse(ip, 0);
  if (!address) return {spf::SpfResult::kPermError, "", "'" + ip + "' is not an address"};
  auto queued = std::make_shared<QueuedSpfDns>(dns);
  spf::SpfRequest request;
  request.ip = *address;
  request.domain = bare_name(domain);
  request.sender = "postmaster@" + request.domain;
  request.helo = request.domain;
  std::optional<spf::SpfOutcome> outcome;
  spf::check_host(queued, spf::SpfOptions(), std::move(request),
                  [&](spf::SpfOutcome o) { outcome = std::move(o); });
  queued->run();
  if (!outcome) return {spf::SpfResult::kTempError, "", "the evaluation did not finish"};
  return *outcome;
}

SpfCost spf_cost(const std::string& domain, DnsSource& dns) {
  SpfCost cost;
  std::vector<std::string> chain;
  add_cost(bare_name(domain), dns, chain, cost);
  return cost;
}

std::string spf_with(std::string_view record, const std::vector<std::string>& mechanisms) {
  std::vector<std::string> words = split_spaces(record);
  auto is_all = [](const std::string& w) {
    std::string l = ascii_lower(w);
    if (!l.empty() && std::string_view("+-~?").find(l[0]) != std::string_view::npos) {
      l.erase(0, 1);
    }
    return l == "all";
  };
  auto at = std::find_if(words.begin(), words.end(), is_all);
  for (const auto& m : mechanisms) {
    if (std::any_of(words.begin(), words.end(),
                    [&](const std::string& w) { return iequals(w, m); }))
      continue;
    at = words.insert(at, m) + 1;
  }
  return join(words, " ");
}

}  // namespace hato::policy
