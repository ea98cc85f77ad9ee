// net_metrics.h - the metrics of net/ (DNS queries and their failures), named in one place.
// The resolver increments them; serve registers each series at start (at zero), as it does
// relay's (relay/relay_metrics.h).
#pragma once

#include <string>

#include "common/metrics.h"

namespace hato::net::m {

Counter& dns_queries(const char* type);
Counter& dns_failures(const char* type);
// A listener paused because accept() failed (out of descriptors).
Counter& accept_paused(const std::string& listener);
// HTTP listeners: connections open, refused (reason total, per_client or evicted), and closed
// for a deadline (phase head, body or write).
Gauge& http_connections(const std::string& listener);
Counter& http_refused(const std::string& listener, const char* reason);
Counter& http_timeouts(const std::string& listener, const char* phase);

}  // namespace hato::net::m
