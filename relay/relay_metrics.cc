// relay_metrics.cc - metric names, help texts and labels.
#include "relay/relay_metrics.h"

namespace hato::relay::m {

namespace {
std::string listener_label(const std::string& listener) {
  return "listener=\"" + label_value(listener) + "\"";
}
}  // namespace

Counter& received(const std::string& listener) {
  return metrics().counter("hato_messages_received_total",
                           "Messages accepted into the queue, by listener",
                           listener_label(listener));
}

Counter& connections_total(const std::string& listener) {
  return metrics().counter("hato_connections_total", "SMTP connections accepted, by listener",
                           listener_label(listener));
}

Gauge& connections_open(const std::string& listener) {
  return metrics().gauge("hato_connections", "Open SMTP connections, by listener",
                         listener_label(listener));
}

Counter& auth_failures(const std::string& listener) {
  return metrics().counter("hato_auth_failures_total",
                           "Failed AUTH attempts (wrong credentials or a blocked address), by "
                           "listener",
                           listener_label(listener));
}

Counter& deliveries(const char* result) {
  return metrics().counter("hato_deliveries_total", "Delivery attempts per recipient, by result",
                           std::string("result=\"") + result + "\"");
}

Counter& bounces(const std::string& category, const std::string& provider) {
  return metrics().counter("hato_bounces_total",
                           "Failed delivery attempts per recipient, by category and provider",
                           "category=\"" + label_value(category) + "\",provider=\"" +
                               label_value(provider.empty() ? "other" : provider) + "\"");
}

Counter& complaints(const std::string& provider) {
  return metrics().counter(
      "hato_complaints_total", "Feedback reports (ARF) received at complaints.address, by provider",
      "provider=\"" + label_value(provider.empty() ? "other" : provider) + "\"");
}

Counter& tls_handshakes(bool ok) {
  return metrics().counter(
      "hato_tls_handshakes_total", "TLS handshakes, by direction and result",
      ok ? "direction=\"inbound\",result=\"ok\"" : "direction=\"inbound\",result=\"failed\"");
}

Counter& tls_resumed() {
  return metrics().counter("hato_tls_resumed_total",
                           "Inbound TLS handshakes that resumed a session (ticket or cache)");
}

Counter& dkim_signatures() {
  return metrics().counter("hato_dkim_signatures_total",
                           "DKIM signatures made on submitted mail and Hato's own");
}

Counter& queued(const std::string& origin) {
  return metrics().counter("hato_queued_messages_total",
                           "Messages committed to the queue, by where they came from",
                           "origin=\"" + label_value(origin) + "\"");
}

Histogram& delivery_latency() {
  static Histogram& h =
      metrics().histogram("hato_delivery_latency_seconds", "Time from acceptance to delivery",
                          {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400});
  return h;
}

}  // namespace hato::relay::m
