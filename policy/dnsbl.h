// dnsbl.h - DNS blocklists (RFC 5782): the name to ask for a client address, and what an
// answer means.
//
// A listing is an A record in 127.0.0.0/8. Answers in 127.255.255.0/24 are how big lists say
// "your query was refused" (rate limits, public resolvers); they are errors of the list, never
// listings, or a list that shuts out a resolver would shut out every client.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace hato::policy {

// "4.3.2.1.zone" for 1.2.3.4, 32 nibbles in reverse for IPv6 (RFC 5782 2.1, 2.4); an
// IPv4-mapped IPv6 address is asked as IPv4. Empty for any other address family.
std::string dnsbl_query_name(const SocketAddress& client, std::string_view zone);

struct DnsblAnswer {
  enum class Kind {
    kNotListed,  // no answer records
    kListed,     // at least one 127.0.0.0/8 answer outside 127.255.255.0/24
    kListError,  // only answers the list uses for errors (127.255.255.0/24) or out of 127/8
  };
  Kind kind = Kind::kNotListed;
  std::vector<std::string> codes;   // the listing answers ("127.0.0.2")
  std::vector<std::string> errors;  // the error answers ("127.255.255.254")
};

// Classifies the A records of a NOERROR answer (an empty list: not listed).
DnsblAnswer classify_dnsbl_answer(const std::vector<SocketAddress>& addresses);

// A TXT reason made fit for an SMTP reply: printable ASCII, spaces collapsed, at most 200
// characters. The text comes from the list's DNS, so it is not trusted.
std::string dnsbl_reason(std::string_view txt);

}  // namespace hato::policy
