// net_metrics.cc - metric names, help texts and labels of net/.
#include "net/net_metrics.h"

#include <string>

namespace hato::net::m {

Counter& dns_queries(const char* type) {
  return metrics().counter("hato_dns_queries_total", "DNS queries sent, by type",
                           std::string("type=\"") + type + "\"");
}

Counter& dns_failures(const char* type) {
  return metrics().counter("hato_dns_failures_total", "DNS lookups that failed, by type",
                           std::string("type=\"") + type + "\"");
}

Counter& accept_paused(const std::string& listener) {
  return metrics().counter("hato_accept_paused_total",
                           "Times a listener paused because accept() failed (out of descriptors)",
                           "listener=\"" + listener + "\"");
}

Gauge& http_connections(const std::string& listener) {
  return metrics().gauge("hato_http_connections", "Open connections on an HTTP listener",
                         "listener=\"" + listener + "\"");
}

Counter& http_refused(const std::string& listener, const char* reason) {
  return metrics().counter(
      "hato_http_refused_total",
      "HTTP connections refused or closed to make room (reason: total, per_client, evicted)",
      "listener=\"" + listener + "\",reason=\"" + reason + "\"");
}

Counter& http_timeouts(const std::string& listener, const char* phase) {
  return metrics().counter("hato_http_timeouts_total",
                           "HTTP connections closed at a deadline (phase: head, body, write)",
                           "listener=\"" + listener + "\",phase=\"" + phase + "\"");
}

}  // namespace hato::net::m
