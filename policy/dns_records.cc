// dns_records.cc - the records a mail domain needs (`hato dns records`), and the helpers the
// parts of `hato dns` share (dns_records_internal.h).
//
// SPF evaluation over a DnsSource is in dns_records_spf.cc, the checks of what DNS publishes
// in dns_records_check.cc.
#include "policy/dns_records.h"

#include <cstdio>

#include "common/net.h"
#include "common/strings.h"
#include "policy/dkim/key.h"
#include "policy/dns_records_internal.h"

namespace hato::policy {

namespace dns_detail {

std::string bare_name(std::string_view name) {
  std::string out = ascii_lower(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::vector<std::string> split_spaces(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::string normal_ip(const std::string& ip) {
  auto parsed = SocketAddress::parse(ip, 0);
  return parsed ? parsed->ip() : ip;
}

bool is_ipv6(const std::string& ip) {
  return ip.find(':') != std::string::npos;
}

std::string postmaster(const DomainPlan& plan) {
  return "mailto:postmaster@" + plan.domain;
}

const char* outcome_error(const DnsAnswer& answer) {
  return answer.error.empty() ? "no answer" : answer.error.c_str();
}

}  // namespace dns_detail

using dns_detail::is_ipv6;
using dns_detail::normal_ip;
using dns_detail::postmaster;

namespace {

constexpr uint16_t kMxPreference = 10;

}  // namespace

// ---------------------------------------------------------------------------
// Required records.

std::string recommended_spf(const DomainPlan& plan) {
  // mx only when the MX is this relay: another service's inbound servers do not send for us.
  std::string spf = std::string(plan.receives ? "v=spf1 mx" : "v=spf1") + " a:" + plan.hostname;
  for (const auto& e : plan.egress) spf += (is_ipv6(e.ip) ? " ip6:" : " ip4:") + normal_ip(e.ip);
  return spf + " ~all";
}

std::string recommended_dmarc(const DomainPlan& plan) {
  return "v=DMARC1; p=none; rua=" + postmaster(plan);
}

std::string recommended_tlsrpt(const DomainPlan& plan) {
  return "v=TLSRPTv1; rua=" + postmaster(plan);
}

std::string mta_sts_policy(const DomainPlan& plan) {
  std::string out = "version: STSv1\r\nmode: " + plan.mta_sts_mode + "\r\n";
  for (const auto& mx :
       plan.mta_sts_mx.empty() ? std::vector<std::string>{plan.hostname} : plan.mta_sts_mx)
    out += "mx: " + mx + "\r\n";
  return out + "max_age: " + std::to_string(plan.mta_sts_max_age) + "\r\n";
}

std::string mta_sts_id(std::string_view policy) {
  // FNV-1a: the id only has to change when the text does; no secrecy involved.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : policy) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

ZoneRecord mta_sts_record(const DomainPlan& plan) {
  const std::string& d = plan.domain;
  std::string policy = mta_sts_policy(plan);
  ZoneRecord sts{"MTA-STS", "_mta-sts." + d, "TXT", "v=STSv1; id=" + mta_sts_id(policy), {}};
  sts.comments.push_back("MTA-STS: senders fetch this policy from https://mta-sts." + d +
                         "/.well-known/mta-sts.txt");
  sts.comments.push_back("(HTTPS with a certificate valid for mta-sts." + d +
                         "); id= changes whenever the policy does:");
  for (size_t start = 0; start < policy.size();) {
    size_t end = policy.find("\r\n", start);
    sts.comments.push_back("  " + policy.substr(start, end - start));
    start = end == std::string::npos ? policy.size() : end + 2;
  }
  if (plan.mta_sts_mode == "testing") {
    sts.comments.push_back("mode testing: failures are only reported (TLS-RPT);");
    sts.comments.push_back("switch to enforce once the reports are clean.");
  }
  return sts;
}

}  // namespace

std::vector<ZoneRecord> required_records(const DomainPlan& plan) {
  const std::string& d = plan.domain;
  std::vector<ZoneRecord> out;

  if (plan.receives) {
    out.push_back({"MX",
                   d,
                   "MX",
                   std::to_string(kMxPreference) + " " + plan.hostname,
                   {"Mail for " + d + " comes to this relay.",
                    plan.hostname + " needs an A (and AAAA) record with this host's public "
                                    "address; `dns check` verifies it."}});
  }

  ZoneRecord spf{"SPF", d, "TXT", recommended_spf(plan), {}};
  if (!plan.receives) {
    spf.comments.push_back("No inbound listener: this relay only sends as " + d +
                           "; keep the MX, MTA-STS and");
    spf.comments.push_back("TLS-RPT records of the service that receives its mail.");
  }
  std::string own = (plan.receives ? "mx and a:" : "a:") + plan.hostname;
  if (plan.egress.empty()) {
    spf.comments.push_back("No egress addresses are configured: " + own +
                           " authorise this relay's own address.");
  } else {
    spf.comments.push_back(own + " and the configured egress addresses may send as " + d + ".");
  }
  spf.comments.push_back("Add an include: for every other service that sends as " + d +
                         " (10 DNS lookups at most in all).");
  spf.comments.push_back("~all only marks other senders as suspect: make it -all once");
  spf.comments.push_back("nothing else sends as " + d + ".");
  out.push_back(std::move(spf));

  for (const auto& key : plan.dkim) {
    out.push_back({"DKIM " + key.selector,
                   dkim::key_record_name(key.selector, d),
                   "TXT",
                   key.record,
                   {"DKIM key " + key.selector + ", from " + key.source + "."}});
  }

  out.push_back({"DMARC",
                 "_dmarc." + d,
                 "TXT",
                 recommended_dmarc(plan),
                 {"p=none only asks for reports (sent to rua). Once they show all your mail "
                  "passing SPF or DKIM,",
                  "move to p=quarantine, then to p=reject."}});

  if (!plan.receives) return out;
  out.push_back(mta_sts_record(plan));
  out.push_back({"TLS-RPT",
                 "_smtp._tls." + d,
                 "TXT",
                 recommended_tlsrpt(plan),
                 {"Daily reports from senders that failed to deliver to " + d + " over TLS."}});
  return out;
}

std::string zone_line(const ZoneRecord& record) {
  if (record.type != "TXT") {
    std::string line = record.owner + ". IN " + record.type + " " + record.value;
    if (record.type == "MX" || record.type == "CNAME" || record.type == "PTR") line += '.';
    return line;
  }
  return dkim::zone_txt_line(record.owner, record.value);
}

}  // namespace hato::policy
