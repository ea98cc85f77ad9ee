// config_builder.h - the Builder that turns a parsed hato.yaml into a Config (internal to conf/).
//
// load_string() (config.cc) runs one Builder per document. Its read_* functions, one per
// section of the file, live by theme: config_builder.cc (the top level, defaults, shared
// checks), config_listen.cc (listeners, TLS, ACME, MTA-STS hosting, SMTP limits),
// config_domains.cc (domains, DKIM keys, mailboxes, aliases, allowed senders),
// config_inbound.cc (inbound checks), config_delivery.cc (DNS, delivery, smarthost, retry,
// cluster), config_shaping.cc (egress addresses, warm-up, shaping), config_blacklist.cc
// (blacklist monitoring), config_bounces.cc (bounce rules, suppression, complaints) and
// config_events.cc (webhooks). Every problem is recorded at its node (yaml_reader.h).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "conf/config_keys.h"
#include "conf/yaml_reader.h"

namespace hato::conf::detail {

inline constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
inline constexpr size_t kMaxReplyRegex = 256;

// dir + "/" + name, without doubling a trailing slash.
std::string join_path(const std::string& dir, std::string_view name);
// is_domain_name and is_local_part: conf/config.h.

// Builds a Config from a parsed document, reporting every problem to a Reader.
class Builder {
 public:
  explicit Builder(Problems& problems) : reader_(problems) {}
  Config build(const Value& root);

 private:
  void read_names(MapReader& top);
  void read_auth(const Value& v);
  void read_admin(const Value& v);
  void read_log(const Value& v);
  void read_tls(const Value& v);
  void read_tls_pairs(const Value& v);
  void read_listeners(const Value& v);
  void read_listener(const Value& v);
  void read_domains(const Value& v);
  void read_domain(const Value& v);
  void read_dkim(const Value& v, Domain* domain);
  void read_mailboxes(const Value& v, Domain* domain);
  void read_aliases(const Value& v, Domain* domain);
  void read_dns(const Value& v);
  void read_delivery(const Value& v);
  void read_smarthost(const Value& v);
  void read_retry(const Value& v);
  void read_limits(const Value& v);
  void read_user_quotas(const Value& v);
  void read_brake(const Value& v);
  void read_brake_floor(const Value& v);
  std::optional<double> read_decimal(const Value& v, double min, double max);
  std::optional<std::vector<Quota>> read_quotas(const Value& v);
  void read_allowed_senders(const Value& v);
  void read_inbound(const Value& v);
  void read_dnsbl(const Value& v);
  void read_scanners(const Value& v);
  std::optional<Scanner> read_scanner(const Value& v, bool http);
  void read_inbound_limits(const Value& v);
  void read_egress(const Value& v);
  void read_warmup(const Value& v, Egress* egress);
  void read_shaping(const Value& v);
  void read_provider(const Value& v);
  void read_shaping_limits(const MapReader& m, Provider* provider);
  void read_suspend_rule(const Value& v);
  void read_complaint_limits(const Value& v);
  std::optional<double> read_percent(const Value& v);
  void read_blacklist_monitor(const Value& v);
  void read_events(const Value& v);
  void read_webhook(const Value& v);
  void read_cluster(const Value& v);
  void read_bounces(const Value& v);
  void read_bounce_rule(const Value& v);
  void read_suppression(const Value& v);
  void read_complaints(const Value& v);
  void read_dmarc_reports(const Value& v);
  std::vector<std::string> read_zones(const Value& v);
  void read_acme(const Value& v);
  void read_mta_sts(const Value& v);
  std::optional<std::string> read_sender(const Value& v);
  // An ECMAScript expression matched case-insensitively against remote replies (suspend
  // rules, bounce rules): compiled here as its user will, and bounded in length.
  std::optional<std::string> read_reply_regex(const Value& v);
  void apply_defaults();
  void check_web();

  std::optional<std::string> existing_file(const Value& v);
  void check_unique(std::map<std::string, Position>& seen, const std::string& name, const Value& v,
                    std::string_view what);

  Reader reader_;
  Config config_;
  std::map<std::string, Position> listener_names_;
  std::map<std::string, Position> domain_names_;
  std::map<std::string, Position> egress_addresses_;
  std::map<std::string, Position> provider_names_;
  std::map<std::string, Position> mx_suffixes_;
  Value web_at_;  // admin.web, for check_web()'s message
};

}  // namespace hato::conf::detail
