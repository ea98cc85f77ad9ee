// config.h - the configuration, immutable once loaded.
//
// conf::load() reads hato.yaml (keys in shared/INTERFACE.md); embedded_default()
// is the development relay that `hato serve` runs when there is no file.
// A reload builds a new Config and swaps the shared_ptr; nobody mutates one.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "common/url.h"

namespace hato::conf {

using Duration = std::chrono::milliseconds;

// kHttp: the HTTP API (POST /v1/messages), always over TLS; a submission door for hooks.
enum class ListenerRole { kSubmission, kInbound, kHttp };
// Mail through this listener is our users' (SMTP submission or the HTTP API): it must
// authenticate, is signed, and meets the sender rules and the user's limits.
inline bool submits(ListenerRole role) {
  return role != ListenerRole::kInbound;
}
enum class ListenerTls { kStartTls, kImplicit, kNone };  // kNone: STARTTLS not offered
enum class LogFormat { kText, kJson };
// A DATA line that ends in a bare LF: stored as if it ended in CRLF (Postfix 3.9's
// smtpd_forbid_bare_newline = normalize), or the message refused with 550 5.6.0.
// Either way only <CRLF>.<CRLF> ends DATA and a bare CR is refused.
enum class BareLf { kNormalize, kReject };
// A NUL octet in DATA: refused with 550 5.6.0 (the default), or passed on as it came. A
// server after Hato that drops NULs before looking for the end of data would read
// <CR><LF>.<CR><LF> where Hato did not.
enum class Nul { kReject, kAllow };

struct Listener {
  std::string name;
  SocketAddress address;
  ListenerRole role = ListenerRole::kSubmission;
  ListenerTls tls = ListenerTls::kStartTls;
  std::vector<Cidr> trusted_networks;  // may send without AUTH
  BareLf bare_lf = BareLf::kNormalize;
  Nul nul = Nul::kReject;
};

struct DkimKey {
  std::string selector;
  std::string algorithm = "rsa-sha256";  // or ed25519-sha256
  std::string key_file;
};

struct Domain {
  std::string name;  // lower case
  std::vector<DkimKey> dkim;
  std::vector<std::string> mailboxes;          // local parts, lower case
  std::map<std::string, std::string> aliases;  // local part -> mailbox
  // Local delivery over LMTP (RFC 2033, e.g. Dovecot) instead of the Maildir writer:
  // "127.0.0.1:24" or "unix:/run/dovecot/lmtp".
  std::optional<SocketAddress> lmtp;
};

// ACME (RFC 8555): Hato obtains and renews the certificate itself; certificate and key then
// name <data_dir>/acme/cert.pem and key.pem.
struct Acme {
  std::string directory = "https://acme-v02.api.letsencrypt.org/directory";
  std::string email;
  std::optional<SocketAddress> http;  // the HTTP-01 challenge listener
  std::vector<std::string> domains;   // default: hostname and mta-sts.<domain> of each domain
  std::string ca_file;                // extra CA trusted for the directory
  Duration renew_before{0};           // 0: renew at two thirds of the lifetime
};

struct Tls {
  std::string certificate;  // PEM file paths
  std::string key;
  std::optional<Acme> acme;
  // More pairs served beside certificate/key, each of another key type (an ECDSA P-256
  // certificate beside an RSA one): the client's signature algorithms pick.
  struct Pair {
    std::string certificate, key;
  };
  std::vector<Pair> additional;
};

// Hosting of our own MTA-STS policy (RFC 8461) at https://mta-sts.<domain>/.well-known/.
struct MtaStsHosting {
  std::optional<SocketAddress> listen;  // unset: not served
  std::string mode = "testing";         // testing | enforce | none
  int64_t max_age = 604800;             // seconds
  std::vector<std::string> mx;          // default: hostname
};

// auth: successful submission logins remembered, so a client that logs in on every
// connection is not checked by crypt(3) each time (policy/auth_cache.h).
struct Auth {
  Duration cache_ttl = std::chrono::hours(1);  // 0: no cache
  size_t cache_size = 10000;                   // users remembered at most
};

struct Admin {
  std::string socket;  // default <data_dir>/admin.sock
  std::optional<SocketAddress> metrics;
  // The dashboard (cli/dashboard.h): HTTPS with tls.certificate, or plain HTTP on loopback.
  std::optional<SocketAddress> web;
};

struct Retry {
  Duration first = std::chrono::minutes(5);
  Duration max_interval = std::chrono::hours(4);
  Duration max_age = std::chrono::hours(24 * 5);
  Duration delay_warning = std::chrono::hours(4);
};

struct Smarthost {
  std::string host;
  uint16_t port = 587;
  std::string tls = "starttls";  // starttls | implicit | none
  std::string username;
  std::string password_file;
};

struct Delivery {
  uint16_t port = 25;
  std::optional<Smarthost> smarthost;
  std::string tls = "opportunistic";  // or required
  Retry retry;
  std::string ca_file;          // extra CAs for MX certificates and MTA-STS policy hosts
  uint16_t mta_sts_port = 443;  // where MTA-STS policy hosts are asked; other values for tests
  std::string tls_report_from;  // TLS-RPT sender; default tls-reports@<first domain>
  std::string tls_report_organization;  // default: hostname
};

// Session limits (RFC 5321 section 4.5.3 gives the minimums).
// A count per window: "500/h" is 500 in each clock hour.
struct Quota {
  uint64_t count = 0;
  Duration window{};
};

// What one submitting user may send (limits.users): messages and recipients per minute, hour
// or day. A user not named has `default`'s; a named user's list replaces default's.
struct UserQuotas {
  std::optional<std::vector<Quota>> messages;
  std::optional<std::vector<Quota>> recipients;
};

// limits.brake: a submitting user far above its own normal sending, or whose hard bounces
// jump, is frozen until `hato user thaw` (policy/user_brake.h).
enum class BrakeAction { kHold, kRefuse };
struct Brake {
  bool enabled = false;
  double factor = 10;         // this hour's messages (or recipients) over factor x baseline
  uint64_t floor = 100;       // ... and over this many: a new user sending 10 is not frozen
  double bounce_rate = 0.2;   // hard bounces per result over the last day
  uint64_t min_bounces = 20;  // ... once at least this many hard bounces were seen
  // Feedback-loop complaints per delivered message over the last day; 0.003 is the spam rate
  // Gmail's sender guidelines say never to reach.
  double complaint_rate = 0.003;
  uint64_t min_complaints = 5;  // ... once at least this many complaints were seen
  BrakeAction action = BrakeAction::kHold;
  bool operator==(const Brake&) const = default;
};

struct Limits {
  uint64_t max_message_size = 50ull * 1024 * 1024;
  uint32_t max_recipients = 1000;
  uint32_t max_errors = 10;  // then 421 and close
  Duration command_timeout = std::chrono::minutes(5);
  Duration data_timeout = std::chrono::minutes(10);
  uint32_t max_connections = 10000;
  // NOOP, RSET, VRFY, EXPN and HELP beyond this many since the last accepted message get
  // 421 and the close (Postfix's smtpd_junk_command_limit).
  uint32_t max_junk_commands = 100;
  Duration max_session_time = std::chrono::hours(1);  // then 421 4.4.2 and the close
  std::map<std::string, UserQuotas> users;            // by user name; "default" for the rest
  Brake brake;
};

// A DNS blocklist (RFC 5782) the inbound listeners check client addresses against.
enum class DnsblAction { kReject, kMark };  // mark: an X-DNSBL header field, mail accepted
struct DnsblZone {
  std::string zone;  // lower case, no trailing dot
  DnsblAction action = DnsblAction::kReject;
};

// What DMARC (RFC 7489) failures do: enforce applies p=reject/quarantine, report only
// records the result in Authentication-Results, off skips the check.
enum class DmarcMode { kEnforce, kReport, kOff };

// A content scanner asked at the end of DATA on inbound listeners (inbound/scanners.h).
struct Scanner {
  SocketAddress address;  // rspamd: from its url; clamd: host:port or a Unix socket
  Duration timeout = std::chrono::seconds(20);
  bool accept_on_failure = false;  // on_failure: accept; default tempfail (451 4.7.1)
};

struct Scanners {
  std::optional<Scanner> rspamd;  // its HTTP protocol, POST /checkv2
  std::optional<Scanner> clamav;  // clamd's INSTREAM
};

// Replies to a client that keeps making errors (unknown recipients, bad commands) come
// slower and slower, and then not at all (policy/client_limits.h, per client address).
struct ErrorSlowdown {
  uint32_t after = 10;                       // errors answered at once before the delays begin
  Duration delay = std::chrono::seconds(1);  // the first delayed reply, then doubling
  Duration max_delay = std::chrono::seconds(16);
  uint32_t disconnect_after = 30;              // recent errors before 421 and close
  Duration forget = std::chrono::minutes(15);  // quiet time that wipes the count
};

// Per client address, on inbound listeners.
struct InboundLimits {
  uint32_t connections_per_client = 0;  // 0: a tenth of limits.max_connections, at least 10
  double messages_per_second = 0;       // MAIL commands; 0: no limit ("60/m")
  double messages_burst = 0;            // how many at once: the count of "60/m"
  ErrorSlowdown error_slowdown;
};

struct Inbound {
  std::string maildir_root;  // default <data_dir>/mail
  std::vector<DnsblZone> dnsbl;
  DmarcMode dmarc = DmarcMode::kEnforce;
  Scanners scanners;
  InboundLimits limits;
};

// IP warm-up (issue 7): how many messages an egress address may send per UTC day while
// receivers get to know it.
struct Warmup {
  int64_t start_day = 0;        // day 1 of the schedule, in days since 1970-01-01 (UTC)
  std::vector<uint64_t> daily;  // day 1, day 2, ...; empty: the built-in curve (policy/limiter.cc)
  bool per_provider = false;    // each provider gets the whole daily allowance on its own
  bool operator==(const Warmup&) const = default;
};

// A source address for outbound connections, with the name it greets with.
struct Egress {
  SocketAddress address;  // port 0
  std::string helo;       // default: hostname
  uint32_t weight = 1;    // share of messages among the addresses allowed to send
  std::optional<Warmup> warmup;
};

// A receiving provider, recognised by its MX hosts' names. A 0 (or empty) field is one the
// configuration leaves alone: the built-in value for a built-in provider, else shaping.default's.
struct Provider {
  std::string name;                    // lower case: letters, digits, '-', '_'
  std::vector<std::string> mx_suffix;  // lower case, without leading or trailing dots
  uint32_t connections = 0;            // concurrent, per egress address
  uint32_t messages_per_connection = 0;
  double rate_per_second = 0;  // messages, per egress address; "20/s", "100/m", "3600/h"
  bool operator==(const Provider&) const = default;
};

// The providers policy/limiter.cc knows without configuration.
inline constexpr std::string_view kBuiltinProviders[] = {"google", "microsoft", "yahoo", "apple"};

// A remote reply that tells us to back off from a provider. The expression is ECMAScript,
// matched case-insensitively anywhere in the reply's text.
struct SuspendRule {
  std::string reply_regex;
  std::string provider;  // empty: any
  Duration for_ = std::chrono::hours(1);
  double rate_per_second = 0;  // 0: stop sending for `for_`; else slow down to this rate
  bool operator==(const SuspendRule&) const = default;
};

// The complaint rate (complaints / delivered, per provider, over `window`) that slows down or
// suspends sending to that provider (shaping.complaints; policy/complaint_rate.h).
struct ComplaintLimits {
  Duration window = std::chrono::hours(24);
  uint64_t min_delivered = 1000;  // no decision on fewer delivered messages in the window
  double slow_above = 0.001;      // 0.1%: Gmail's "keep below"
  double slow_rate = 1.0;         // messages per second, per egress address, while slowed
  double suspend_above = 0.003;   // 0.3%: Gmail's "never reach"
  Duration for_ = std::chrono::hours(6);
  bool operator==(const ComplaintLimits&) const = default;
};

struct Shaping {
  std::vector<Provider> providers;      // added to or overriding the built-in ones, by name
  std::vector<SuspendRule> suspend_on;  // tried before the built-in rules
  ComplaintLimits complaints;
  Provider defaults;  // name "default": every other destination, and unset fields above
  bool operator==(const Shaping&) const = default;
};

// Watching our own addresses and domains on DNS blocklists (issue 8; policy/blacklist*.h).
struct BlacklistMonitor {
  bool enabled = false;  // the section is present
  Duration interval = std::chrono::minutes(15);
  std::vector<std::string> zones;         // for egress addresses; lower case, no trailing dot
  std::vector<std::string> domain_zones;  // for the configured domains (DBL-style)
  std::string webhook;                    // the URL as written, or empty
  std::optional<Url> webhook_url;         // parsed; http:// or https://
  uint32_t clean_checks = 2;              // clean answers in a row before an address returns
  bool keep_last_address = true;          // with every address listed, keep sending from them
  std::string notify;                     // default postmaster@<first domain>
};

// Events posted to the application (issue 21; relay/webhooks.h). The URL is HTTPS, its
// certificate checked against the trust store and delivery.ca_file.
struct Webhook {
  std::string url;  // as written
  Url target;
  std::string secret_file;
  std::string secret;                // the file's content without its trailing newline
  std::vector<std::string> types;    // event types sent; empty: all
  std::vector<std::string> users;    // only events of mail these SMTP AUTH users submitted
  std::vector<std::string> domains;  // only events whose sender or recipient is in these
  uint32_t batch = 100;              // events per POST at most
  Duration timeout = std::chrono::seconds(10);
};

struct Events {
  std::vector<Webhook> webhooks;
  // Events kept for hooks that are down; beyond this the oldest are dropped (and counted).
  // Read when the queue opens: a change takes a restart.
  uint64_t backlog = 1000000;
};

// Several nodes sharing warm-up allowances, shaping and suspensions through redis (issue 12).
struct Cluster {
  std::string redis;         // the URL as written, password masked: "redis://:***@127.0.0.1:6379"
  std::string user;          // AUTH user (redis 6 ACL), empty: the default user
  std::string password;      // AUTH password; empty: no AUTH
  SocketAddress server;      // numeric: resolving would block the loop at every reconnect
  std::string node;          // this node's name, unique in the cluster
  double local_share = 0.1;  // of each limit, while redis cannot be reached
  uint32_t lease = 5;        // warm-up allowance reserved from redis at a time
};

// The bounce categories (policy/bounce_rules.h), in the order README lists them.
inline constexpr std::string_view kBounceCategories[] = {
    "invalid-recipient", "bad-domain",   "mailbox-full",
    "reputation-block",  "spam-content", "policy",
    "authentication",    "rate-limited", "tls",
    "message-too-large", "expired",      "transient",
    "unclassified"};
bool is_bounce_category(std::string_view name);

// bounces.rules: tried in order before the built-in table; the first that fits decides.
struct BounceRule {
  std::string match;     // ECMAScript, case-insensitive, searched in the reply; empty: any
  std::string provider;  // lower case; empty: any
  std::string dsn;       // a prefix of the enhanced status code ("5.7."); empty: any
  std::string category;  // one of kBounceCategories
  bool operator==(const BounceRule&) const = default;
};

// suppression: recipients that stop receiving mail (policy/suppression.h).
struct Suppression {
  // Categories (and "complaint") whose hard failures add an entry by themselves.
  std::vector<std::string> on = {"invalid-recipient", "complaint"};
  bool global = false;                             // scope: global; default per domain
  Duration expire = std::chrono::hours(24 * 365);  // 0: entries never expire
  bool bounce_at_submission = false;               // at_submission: bounce (else reject)
};

// complaints: feedback reports (ARF, RFC 5965) arriving at `address` (a mailbox or alias of a
// local domain) are read: the complained-about recipient is suppressed and an event goes out.
struct Complaints {
  std::string address;  // lower-case domain; "" reads none
};

// dmarc_reports: DMARC aggregate reports (RFC 7489 7.2) arriving at `rua` (an address at a
// local domain) are read, stored per domain, day, reporter and source, and summarised by
// `hato dmarc summary` (relay/dmarc_reports.h).
struct DmarcReports {
  std::string rua;  // lower-case domain; "" reads none
  // An unknown source (not ours) that the reports show sending more than this many
  // messages a day as one of our domains is alerted on.
  uint64_t unknown_threshold = 10;
};

struct Config {
  std::string source;  // file the config came from, or "<embedded default>"
  std::string hostname;
  std::string data_dir;
  std::string users_file;
  std::string user;  // run as this user after binding ports; empty: stay as started
  Auth auth;
  Admin admin;
  LogFormat log_format = LogFormat::kText;
  Tls tls;
  MtaStsHosting mta_sts;
  std::vector<Listener> listeners;
  std::vector<Domain> domains;
  std::vector<SocketAddress> dns_servers;  // empty: /etc/resolv.conf
  Delivery delivery;
  Limits limits;
  Inbound inbound;
  std::vector<Egress> egress;  // empty: the system's default source address, no shaping
  Shaping shaping;
  BlacklistMonitor blacklist_monitor;
  Events events;
  std::optional<Cluster> cluster;        // absent: one node, its state in its own RocksDB
  std::vector<BounceRule> bounce_rules;  // bounces.rules
  Suppression suppression;
  Complaints complaints;
  DmarcReports dmarc_reports;
  // Per authenticated user: the sender addresses ("a@d") or domains ("@d")
  // the user may use. A user absent here may use any address of `domains`.
  std::map<std::string, std::vector<std::string>> allowed_senders;

  const Domain* find_domain(std::string_view name) const;  // case-insensitive
};

using ConfigPtr = std::shared_ptr<const Config>;

// The outcome of loading: a config, or every problem found, each formatted as
// "FILE:LINE:COLUMN: message" (1-based line and column).
struct LoadResult {
  ConfigPtr config;
  std::vector<std::string> errors;
  bool ok() const { return config != nullptr && errors.empty(); }
};

LoadResult load_file(const std::string& path);
// `name` stands for the file name in error messages.
LoadResult load_string(const std::string& yaml, const std::string& name);

// The development relay of INTERFACE.md: ./hato-data, 127.0.0.1:2525 inbound,
// 127.0.0.1:2587 submission with STARTTLS, domain "localhost". The certificate,
// key and users file it names live in data_dir and are made on first start by
// `hato serve`, not here.
ConfigPtr embedded_default(const std::string& data_dir = "hato-data");

// Which file `-c` resolves to: the given path, else ./hato.yaml, else
// /etc/hato/hato.yaml; empty when none exists (use the embedded default).
std::string find_config_file(const std::string& given);

// Whether two configurations have the same egress addresses (HELO names and weights), in
// the same order, and the same shaping: the limiter numbers connections by egress index, so
// a reload that changes either needs a new limiter (or a restart). Warm-up schedules may
// differ: a reload applies them to the running limiter.
bool same_egress_and_shaping(const Config& a, const Config& b);

// RFC 1035 host name syntax, which every name in the configuration is checked against
// (hostname, domains, HELO names): letters, digits and inner hyphens, labels of at most 63
// octets, 253 in all.
bool is_domain_name(std::string_view name);
// An RFC 5322 dot-atom of at most 64 octets: a mailbox or alias name.
bool is_local_part(std::string_view s);

// Parses "30s", "5m", "4h", "5d", "250ms".
Result<Duration> parse_duration(std::string_view text);
// Parses "50M", "10MiB", "1024", "2G".
Result<uint64_t> parse_size(std::string_view text);
// Parses a rate "20/s", "100/m", "3600/h" or "500/d" into messages per second.
Result<double> parse_rate(std::string_view text);
// Parses the same text into its count and window ("500/d": 500 per day).
Result<Quota> parse_quota(std::string_view text);
// Parses a date "2026-11-01" into days since 1970-01-01.
Result<int64_t> parse_date(std::string_view text);

}  // namespace hato::conf
