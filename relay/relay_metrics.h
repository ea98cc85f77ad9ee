// relay_metrics.h - the daemon's metrics, named and described in one place.
// Call sites increment; serve registers every series at start (at zero). The resolver's
// own (DNS queries and failures) are in net/net_metrics.h.
#pragma once

#include <string>

#include "common/metrics.h"

namespace hato::relay::m {

Counter& received(const std::string& listener);
Counter& connections_total(const std::string& listener);
Gauge& connections_open(const std::string& listener);
Counter& deliveries(const char* result);  // delivered | deferred | bounced | expired
// Failed delivery attempts per recipient (temporary and permanent), by bounce category
// (policy/bounce_rules.h) and provider of the MX ("other" when none is known).
Counter& bounces(const std::string& category, const std::string& provider);
// Feedback reports (ARF) read at complaints.address, by the provider they concern.
Counter& complaints(const std::string& provider);
Counter& tls_handshakes(bool ok);
// Successful inbound handshakes that resumed a session (a ticket or the TLS 1.2 cache).
Counter& tls_resumed();
Counter& dkim_signatures();
// submission | inbound | bounce | delay | tls-report | blacklist
Counter& queued(const std::string& origin);
Histogram& delivery_latency();
Counter& auth_failures(const std::string& listener);  // wrong passwords and blocked tries

}  // namespace hato::relay::m
