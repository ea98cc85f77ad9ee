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

}  // namespace hato::net::m
