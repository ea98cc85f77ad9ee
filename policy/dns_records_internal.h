// dns_records_internal.h - what the parts of `hato dns` share (internal to policy/).
//
// dns_records.cc builds the required records, dns_records_spf.cc runs SPF over a DnsSource,
// dns_records_check.cc judges what DNS publishes; all three spell names, addresses and
// lists the same way through these helpers (defined in dns_records.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/dns_records.h"

namespace hato::policy::dns_detail {

// Lower case, without the trailing dot.
std::string bare_name(std::string_view name);
std::string join(const std::vector<std::string>& items, std::string_view sep);
std::vector<std::string> split_spaces(std::string_view text);
// The canonical text of a numeric address, so "::FFFF:1.2.3.4" and friends compare equal to
// what the resolver reports; the input itself when it is not an address.
std::string normal_ip(const std::string& ip);
bool is_ipv6(const std::string& ip);
// "mailto:postmaster@DOMAIN", where the reports go.
std::string postmaster(const DomainPlan& plan);
// Why a lookup failed, in words.
const char* outcome_error(const DnsAnswer& answer);

}  // namespace hato::policy::dns_detail
