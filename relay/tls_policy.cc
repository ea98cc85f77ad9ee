// tls_policy.cc - RFC 8461 section 4 and RFC 7672 sections 2.2 and 3 as pure functions.
#include "relay/tls_policy.h"

namespace hato::relay {

namespace {

bool enforcing(const policy::mta_sts::Policy* sts) {
  return sts && sts->mode == policy::mta_sts::Mode::kEnforce;
}

HostTls smarthost_tls(const TlsPolicyInput& in) {
  HostTls out;
  if (in.smarthost_tls == "implicit") {
    out.mode = ClientTls::kImplicit;
  } else if (in.smarthost_tls == "none" && !in.smarthost_login) {
    out.mode = ClientTls::kNone;
  } else {
    out.mode = ClientTls::kRequired;  // credentials never travel in clear
  }
  out.policy = out.mode == ClientTls::kNone ? "none" : "required";
  return out;
}

// RFC 7672 2.2 and 3.1.3: a secure TLSA answer makes TLS mandatory; DANE-TA(2) and DANE-EE(3)
// records authenticate the server (OpenSSL skips unknown selectors and matching types itself),
// PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP. Without a usable record TLS stays mandatory
// but unauthenticated.
HostTls dane_tls(const TlsPolicyInput& in) {
  HostTls out;
  out.mode = ClientTls::kRequired;
  out.policy = "dane";
  out.mandatory = true;
  out.dane = true;
  for (const auto& r : in.tlsa->records)
    if (r.usage == 2 || r.usage == 3) out.check.tlsa.push_back(r);
  if (out.check.tlsa.empty()) {
    out.reason = "no usable TLSA record: TLS without authentication";
    return out;
  }
  out.check.kind = net::PeerCheck::Kind::kDane;
  // RFC 7672 3.2.2: the TLSA base domain (the MX host), then the next-hop domain.
  out.check.names = {in.mx_host};
  if (in.destination != in.mx_host) out.check.names.push_back(in.destination);
  out.check.enforce = true;
  return out;
}

// RFC 8461 4.2 and 5: a certificate for the MX name chaining to a trusted CA; enforce
// refuses anything else, testing delivers anyway and reports.
HostTls sts_tls(const TlsPolicyInput& in, HostTls base) {
  const auto& sts = *in.sts;
  if (sts.mode == policy::mta_sts::Mode::kEnforce && !sts.allows(in.mx_host)) {
    // Reached when the MX set is DNSSEC-secure and so was not filtered in advance.
    base.skip = true;
    base.report = "validation-failure";
    base.reason =
        "MX host " + in.mx_host + " is not in MTA-STS policy " + sts.id + " of " + in.destination;
    return base;
  }
  base.check.kind = net::PeerCheck::Kind::kPkix;
  base.check.names = {in.mx_host};
  base.check.enforce = sts.mode == policy::mta_sts::Mode::kEnforce;
  if (base.check.enforce) {
    base.mode = ClientTls::kRequired;
    base.policy = "mta-sts";
    base.mandatory = true;
  } else {
    base.policy = "mta-sts-testing";
  }
  return base;
}

}  // namespace

bool tlsa_applies(RouteKind route, bool mx_secure, bool addresses_secure) {
  return route == RouteKind::kMx && mx_secure && addresses_secure;
}

HostTls host_tls(const TlsPolicyInput& in) {
  if (in.route == RouteKind::kLmtp) {
    HostTls local;  // a local service
    local.mode = ClientTls::kNone;
    local.policy = "none";
    return local;
  }
  if (in.route == RouteKind::kSmarthost) return smarthost_tls(in);
  if (in.tlsa && in.mx_secure) {
    if (in.tlsa->status == net::DnsStatus::kOk && in.tlsa->authenticated) return dane_tls(in);
    if (net::dns_temporary(in.tlsa->status)) {
      // A signed zone that cannot say whether TLSA records exist (or whose answer was
      // bogus): the host cannot be used safely (RFC 7672 2.2).
      HostTls out;
      out.skip = true;
      out.dns_trouble = true;
      out.report = "dnssec-invalid";
      out.reason =
          "TLSA lookup for " + in.mx_host + " failed: " +
          (in.tlsa->error.empty() ? net::dns_status_name(in.tlsa->status) : in.tlsa->error);
      return out;
    }
    // A secure denial (NXDOMAIN, NODATA) or an unsigned answer: no DANE for this host.
  }
  HostTls base;
  base.mode = in.configured == "required" ? ClientTls::kRequired : ClientTls::kOpportunistic;
  base.policy = base.mode == ClientTls::kRequired ? "required" : "opportunistic";
  if (in.sts && in.sts->mode != policy::mta_sts::Mode::kNone) return sts_tls(in, std::move(base));
  return base;
}

StsHostFilter filter_sts_hosts(const policy::mta_sts::Policy* sts,
                               const std::vector<std::string>& hosts, bool mx_secure) {
  StsHostFilter out;
  if (!sts || sts->mode == policy::mta_sts::Mode::kNone) {
    out.allowed = hosts;
    return out;
  }
  for (const auto& h : hosts) (sts->allows(h) ? out.allowed : out.refused).push_back(h);
  if (!enforcing(sts) || mx_secure) {
    out.allowed = hosts;
    return out;
  }
  out.nothing_allowed = out.allowed.empty();
  return out;
}

}  // namespace hato::relay
