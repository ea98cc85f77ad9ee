// config_delivery.cc - how mail leaves: DNS servers, the delivery port and TLS, a
// smarthost, retry times, and the cluster that shares the limits between nodes.
#include "conf/config_builder.h"

#include <charconv>

namespace hato::conf::detail {

void Builder::read_dns(const Value& v) {
  MapReader m(reader_, v, keys::kDns);
  if (auto* s = m.get("servers")) {
    auto items = reader_.items(*s);
    if (!items) return;
    for (const auto& item : *items) {
      if (auto address = reader_.address(item, 53)) config_.dns_servers.push_back(*address);
    }
  }
}

void Builder::read_delivery(const Value& v) {
  MapReader m(reader_, v, keys::kDelivery);
  Delivery& delivery = config_.delivery;
  if (auto* p = m.get("port")) {
    if (auto port = reader_.number(*p, 1, 65535)) delivery.port = static_cast<uint16_t>(*port);
  }
  if (auto* s = m.get("smarthost")) read_smarthost(*s);
  if (auto* t = m.get("tls")) {
    auto tls = reader_.choice<std::string>(
        *t, {{"opportunistic", "opportunistic"}, {"required", "required"}});
    if (tls) delivery.tls = *tls;
  }
  if (auto* r = m.get("retry")) read_retry(*r);
  if (auto* c = m.get("ca_file")) {
    if (auto path = existing_file(*c)) delivery.ca_file = *path;
  }
  if (auto* p = m.get("mta_sts_port")) {
    if (auto port = reader_.number(*p, 1, 65535))
      delivery.mta_sts_port = static_cast<uint16_t>(*port);
  }
  if (auto* f = m.get("tls_report_from")) {
    if (auto from = reader_.non_empty_string(*f)) delivery.tls_report_from = *from;
  }
  if (auto* o = m.get("tls_report_organization")) {
    if (auto org = reader_.non_empty_string(*o)) delivery.tls_report_organization = *org;
  }
}

// read_smarthost - the relay host all mail goes through; credentials only as a pair.
void Builder::read_smarthost(const Value& v) {
  MapReader m(reader_, v, keys::kSmarthost);
  if (!m.is_map()) return;
  Smarthost smarthost;
  if (auto* h = m.require("host")) {
    if (auto host = reader_.non_empty_string(*h)) {
      if (is_domain_name(*host) || SocketAddress::parse(*host, 0)) {
        smarthost.host = *host;
      } else {
        reader_.error(*h, "'" + *host + "' is not a host name or IP address");
      }
    }
  }
  if (auto* p = m.get("port")) {
    if (auto port = reader_.number(*p, 1, 65535)) smarthost.port = static_cast<uint16_t>(*port);
  }
  if (auto* t = m.get("tls")) {
    auto tls = reader_.choice<std::string>(
        *t, {{"starttls", "starttls"}, {"implicit", "implicit"}, {"none", "none"}});
    if (tls) smarthost.tls = *tls;
  }
  const Value* username = m.get("username");
  const Value* password_file = m.get("password_file");
  if (username) {
    if (auto name = reader_.non_empty_string(*username)) smarthost.username = *name;
  }
  if (password_file) {
    if (auto path = existing_file(*password_file)) smarthost.password_file = *path;
  }
  if ((username == nullptr) != (password_file == nullptr))
    reader_.error(v, "username and password_file must be given together");
  config_.delivery.smarthost = std::move(smarthost);
}

void Builder::read_retry(const Value& v) {
  MapReader m(reader_, v, keys::kRetry);
  Retry& retry = config_.delivery.retry;
  const std::pair<std::string_view, Duration*> fields[] = {{"first", &retry.first},
                                                           {"max_interval", &retry.max_interval},
                                                           {"max_age", &retry.max_age},
                                                           {"delay_warning", &retry.delay_warning}};
  for (const auto& [key, field] : fields) {
    if (auto* d = m.get(key)) {
      if (auto duration = reader_.duration(*d)) *field = *duration;
    }
  }
}

// read_cluster - {redis, node, local_share, lease}. The redis address is numeric
// ("redis://127.0.0.1:6379", "redis://[::1]:6379"); "localhost" is taken as 127.0.0.1.
void Builder::read_cluster(const Value& v) {
  MapReader m(reader_, v, keys::kCluster);
  if (!m.is_map()) return;
  Cluster c;
  if (auto* r = m.require("redis")) {
    if (auto text = reader_.non_empty_string(*r)) {
      std::string_view rest = *text;
      if (!rest.starts_with("redis://")) {
        reader_.error(*r, "expected redis://HOST:PORT");
      } else {
        rest.remove_prefix(8);
        while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
        // redis://[USER]:PASSWORD@HOST:PORT: AUTH at each connection.
        std::string shown = "redis://";
        bool userinfo_ok = true;
        if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
          std::string_view userinfo = rest.substr(0, at);
          size_t colon = userinfo.find(':');
          if (colon == std::string_view::npos || colon + 1 == userinfo.size()) {
            userinfo_ok = false;
            reader_.error(*r,
                          "expected redis://:PASSWORD@HOST:PORT or "
                          "redis://USER:PASSWORD@HOST:PORT");
          } else {
            c.user = std::string(userinfo.substr(0, colon));
            c.password = std::string(userinfo.substr(colon + 1));
            shown += c.user + ":***@";
          }
          rest.remove_prefix(at + 1);
        }
        std::string host(rest);
        if (host.starts_with("localhost")) host = "127.0.0.1" + host.substr(9);
        auto address = SocketAddress::parse(host, 6379);
        if (address) {
          c.redis = shown + std::string(rest);
          c.server = *address;
        } else if (userinfo_ok) {
          reader_.error(*r, "redis needs a numeric address: " + address.message());
        }
      }
    }
  }
  if (auto* n = m.require("node")) {
    if (auto name = reader_.non_empty_string(*n)) c.node = *name;
  }
  if (auto* s = m.get("local_share")) {
    if (auto text = reader_.string(*s)) {
      double share = 0;
      auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), share);
      if (ec != std::errc() || p != text->data() + text->size() || share <= 0 || share > 1) {
        reader_.error(*s, "must be a number above 0 and at most 1");
      } else {
        c.local_share = share;
      }
    }
  }
  if (auto* l = m.get("lease")) {
    if (auto n = reader_.number(*l, 1, 100000)) c.lease = static_cast<uint32_t>(*n);
  }
  config_.cluster = std::move(c);
}

}  // namespace hato::conf::detail
