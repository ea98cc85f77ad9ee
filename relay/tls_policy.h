// tls_policy.h - what TLS one delivery host requires, decided from the configuration, the
// destination's MTA-STS policy (RFC 8461) and its DNSSEC and TLSA answers (RFC 7672), with
// no I/O: the attempt asks DNS and connects, these functions say what the answers mean.
//
// Precedence, as RFC 8461 section 2 and RFC 7672 section 1.3 ask: a smarthost or LMTP route
// has its own settings; on an MX route DANE governs a host with secure TLSA records, then an
// MTA-STS policy, then delivery.tls (opportunistic or required).
#pragma once

#include <string>
#include <vector>

#include "net/resolver.h"
#include "net/tls.h"
#include "policy/mta_sts.h"
#include "relay/client_session.h"

namespace hato::relay {

enum class RouteKind { kMx, kSmarthost, kLmtp };

struct TlsPolicyInput {
  RouteKind route = RouteKind::kMx;
  std::string configured = "opportunistic";  // delivery.tls: "opportunistic" or "required"
  // A smarthost route: its tls setting ("starttls", "implicit", "none") and whether it logs in.
  std::string smarthost_tls = "starttls";
  bool smarthost_login = false;
  // An MX route: the recipient domain, the host being tried, what DNS and HTTPS said.
  std::string destination;
  std::string mx_host;
  const policy::mta_sts::Policy* sts = nullptr;  // null: the domain has no policy
  bool mx_secure = false;                        // the MX answer (or its denial) was DNSSEC-secure
  const net::TlsaResult* tlsa = nullptr;         // null: TLSA was not asked (see tlsa_applies)
};

struct HostTls {
  ClientTls mode = ClientTls::kOpportunistic;
  net::PeerCheck check;  // how the certificate is checked after the handshake
  // For the log and the queue: "none", "opportunistic", "required", "mta-sts",
  // "mta-sts-testing", "dane".
  std::string policy;
  // A session without TLS, or whose certificate fails the check, is a policy failure:
  // the mail is deferred with 4.7.5, never bounced.
  bool mandatory = false;
  bool skip = false;         // the policy forbids this host: try the next, a policy failure
  bool dns_trouble = false;  // skipped because DNS could not answer (try again later)
  bool dane = false;         // DANE governs the host (TLS-RPT policy type "tlsa")
  std::string report;        // with skip: the RFC 8460 result type
  std::string reason;        // with skip: why, in words; else a note for the log or ""
};

// RFC 7672 2.2: TLSA records count only for an MX route whose MX answer (or implicit MX) and
// whose host's addresses are all DNSSEC-secure; only then are they asked for.
bool tlsa_applies(RouteKind route, bool mx_secure, bool addresses_secure);

// The TLS required of one host.
HostTls host_tls(const TlsPolicyInput& in);

// RFC 8461 4.1, before any host is tried: under an enforce policy only the MX hosts it lists
// are used. Under a DNSSEC-secure MX set nothing is dropped yet (DANE may govern a host the
// policy does not list; host_tls judges each). `refused` lists the hosts the policy does not
// match, for the log, whatever the mode.
struct StsHostFilter {
  std::vector<std::string> allowed;
  std::vector<std::string> refused;
  bool nothing_allowed = false;  // enforce left no host: defer the mail with 4.7.5
};
StsHostFilter filter_sts_hosts(const policy::mta_sts::Policy* sts,
                               const std::vector<std::string>& hosts, bool mx_secure);

}  // namespace hato::relay
