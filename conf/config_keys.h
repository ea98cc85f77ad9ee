// config_keys.h - every key hato.yaml accepts, one table per map.
//
// The readers in conf/config_*.cc check each map of a file against its table here, and
// `hato config keys` prints them all, so the manual page hato.yaml(5) is tested against the
// keys the loader really takes (tests/docs/check_config_keys.py), not against a copy.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hato::conf {

namespace keys {
using K = std::string_view;
inline constexpr K kTop[] = {"hostname",   "data_dir",
                             "users_file", "user",
                             "auth",       "admin",
                             "log",        "tls",
                             "listeners",  "domains",
                             "dns",        "delivery",
                             "limits",     "allowed_senders",
                             "inbound",    "egress",
                             "shaping",    "blacklist_monitor",
                             "cluster",    "mta_sts",
                             "bounces",    "suppression",
                             "complaints", "dmarc_reports",
                             "events"};
inline constexpr K kAuth[] = {"cache_ttl", "cache_size"};
inline constexpr K kAdmin[] = {"socket", "metrics", "web"};
inline constexpr K kLog[] = {"format"};
inline constexpr K kTls[] = {"certificate", "key", "acme", "additional"};
inline constexpr K kTlsPair[] = {"certificate", "key"};
inline constexpr K kAcme[] = {"directory", "email", "http", "domains", "ca_file", "renew_before"};
inline constexpr K kMtaSts[] = {"listen", "mode", "max_age", "mx"};
inline constexpr K kListener[] = {"name",    "address", "role", "tls", "trusted_networks",
                                  "bare_lf", "nul"};
inline constexpr K kLimits[] = {
    "max_message_size", "max_recipients",    "max_errors",       "command_timeout", "data_timeout",
    "max_connections",  "max_junk_commands", "max_session_time", "users",           "brake"};
inline constexpr K kBrake[] = {"enabled",     "factor",         "floor",          "bounce_rate",
                               "min_bounces", "complaint_rate", "min_complaints", "action"};
// limits.users maps user names (and "default") to these.
inline constexpr K kUserQuotas[] = {"messages", "recipients"};
inline constexpr K kDomain[] = {"name", "dkim", "mailboxes", "aliases", "lmtp"};
inline constexpr K kDkimKey[] = {"selector", "algorithm", "key"};
inline constexpr K kDns[] = {"servers"};
inline constexpr K kDelivery[] = {"port",
                                  "smarthost",
                                  "tls",
                                  "retry",
                                  "ca_file",
                                  "mta_sts_port",
                                  "tls_report_from",
                                  "tls_report_organization"};
inline constexpr K kSmarthost[] = {"host", "port", "tls", "username", "password_file"};
inline constexpr K kRetry[] = {"first", "max_interval", "max_age", "delay_warning"};
inline constexpr K kCluster[] = {"redis", "node", "local_share", "lease"};
inline constexpr K kInbound[] = {"maildir_root", "dnsbl", "dmarc", "scanners", "limits"};
// Accepted and skipped: SPF results always go into Authentication-Results.
inline constexpr K kInboundIgnored[] = {"spf"};
inline constexpr K kDnsbl[] = {"zone", "action"};
inline constexpr K kScanners[] = {"rspamd", "clamav"};
inline constexpr K kRspamd[] = {"url", "timeout", "on_failure"};
inline constexpr K kClamav[] = {"address", "timeout", "on_failure"};
inline constexpr K kInboundLimits[] = {"connections_per_client", "messages_per_client",
                                       "error_slowdown"};
inline constexpr K kErrorSlowdown[] = {"after", "delay", "max_delay", "disconnect_after", "forget"};
inline constexpr K kEgress[] = {"address", "helo", "weight", "warmup"};
inline constexpr K kWarmup[] = {"start", "daily", "per_provider"};
inline constexpr K kShaping[] = {"providers", "suspend_on", "complaints", "default"};
inline constexpr K kShapingComplaints[] = {"window",    "min_delivered", "slow_above",
                                           "slow_rate", "suspend_above", "for"};
inline constexpr K kShapingDefault[] = {"connections", "messages_per_connection", "rate"};
inline constexpr K kProvider[] = {"name", "mx_suffix", "connections", "messages_per_connection",
                                  "rate"};
inline constexpr K kSuspendRule[] = {"reply", "provider", "for", "rate"};
inline constexpr K kBlacklistMonitor[] = {
    "interval", "zones", "domain_zones", "webhook", "clean_checks", "keep_last_address", "notify"};
inline constexpr K kBounces[] = {"rules"};
inline constexpr K kBounceRule[] = {"match", "provider", "dsn", "category"};
inline constexpr K kSuppression[] = {"on", "scope", "expire", "at_submission"};
inline constexpr K kComplaints[] = {"address"};
inline constexpr K kDmarcReports[] = {"rua", "unknown_threshold"};
inline constexpr K kEvents[] = {"webhooks", "backlog"};
inline constexpr K kWebhook[] = {"url",     "secret_file", "types",  "users",
                                 "domains", "batch",       "timeout"};
}  // namespace keys

// One map of the file: where it sits ("delivery.retry"; "[]" marks a list's items, "" the
// top) and the keys it takes.
struct KeyTable {
  std::string_view path;
  std::span<const std::string_view> keys;
  std::span<const std::string_view> ignored = {};
};

// Every map, parents before children.
std::span<const KeyTable> key_tables();

// Every accepted key as its full path ("delivery.retry.first", "listeners[].address"), in
// key_tables() order.
std::vector<std::string> accepted_keys();

}  // namespace hato::conf
