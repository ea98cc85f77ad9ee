// config.cc - hato.yaml into an immutable Config: the schema, its defaults and its checks.
//
// The Builder walks the document once, key by key, and records every problem at the
// node that caused it (see yaml_reader.h); a Config is handed out only when there were
// none. Keys of INTERFACE.md that later work implements are accepted and skipped.
// Which receiver knowledge is built in (providers, replies that mean "slow down") is
// policy/limiter.cc's; here only what the file says is read and checked.
#include "conf/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>

#include "common/strings.h"
#include "conf/yaml_reader.h"

namespace hato::conf {

namespace {

constexpr char kDefaultDataDir[] = "/var/lib/hato";
constexpr char kEmbeddedSource[] = "<embedded default>";
constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr size_t kMaxReplyRegex = 256;

std::string join_path(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return dir + std::string(name);
  return dir + "/" + std::string(name);
}

// is_domain_name - RFC 1035 host name syntax: dot-separated labels of letters, digits
// and inner hyphens, at most 63 octets each and 253 in all.
bool is_domain_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

// is_local_part - an RFC 5322 dot-atom of at most 64 octets, the form of every mailbox
// and alias hato delivers to. Quoted local parts are not supported for local mailboxes.
bool is_local_part(std::string_view s) {
  constexpr std::string_view kAtextSymbols = "!#$%&'*+-/=?^_`{|}~";
  if (s.empty() || s.size() > 64 || s.front() == '.' || s.back() == '.') return false;
  if (s.find("..") != std::string_view::npos) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.') continue;
    if (kAtextSymbols.find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string system_hostname() {
  char buf[HOST_NAME_MAX + 1] = "";
  if (gethostname(buf, sizeof buf) != 0 || buf[0] == '\0') return "localhost";
  buf[HOST_NAME_MAX] = '\0';
  return buf;
}

// Reads a whole file; an errno value on failure.
Result<std::string> read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Result<std::string>::error(std::strerror(errno));
  std::string content;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      close(fd);
      return Result<std::string>::error(std::strerror(saved));
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return content;
}

// Builds a Config from a parsed document, reporting every problem to a Reader.
class Builder {
 public:
  explicit Builder(Problems& problems) : reader_(problems) {}
  Config build(const Value& root);

 private:
  void read_names(MapReader& top);
  void read_admin(const Value& v);
  void read_log(const Value& v);
  void read_tls(const Value& v);
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
  void read_blacklist_monitor(const Value& v);
  void read_cluster(const Value& v);
  std::vector<std::string> read_zones(const Value& v);
  void read_acme(const Value& v);
  void read_mta_sts(const Value& v);
  std::optional<std::string> read_sender(const Value& v);
  void apply_defaults();

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
};

Config Builder::build(const Value& root) {
  MapReader top(reader_, root,
                {"hostname", "data_dir", "users_file", "user", "admin", "log", "tls", "listeners",
                 "domains", "dns", "delivery", "limits", "allowed_senders", "inbound", "egress",
                 "shaping", "blacklist_monitor", "cluster", "mta_sts"});
  if (!top.is_map()) return config_;
  read_names(top);
  if (auto* v = top.get("admin")) read_admin(*v);
  if (auto* v = top.get("log")) read_log(*v);
  if (auto* v = top.get("tls")) read_tls(*v);
  if (auto* v = top.get("mta_sts")) read_mta_sts(*v);
  if (auto* v = top.require("listeners")) read_listeners(*v);
  if (auto* v = top.get("domains")) read_domains(*v);
  if (auto* v = top.get("dns")) read_dns(*v);
  if (auto* v = top.get("delivery")) read_delivery(*v);
  if (auto* v = top.get("limits")) read_limits(*v);
  if (auto* v = top.get("allowed_senders")) read_allowed_senders(*v);
  if (auto* v = top.get("inbound")) read_inbound(*v);
  if (auto* v = top.get("egress")) read_egress(*v);
  if (auto* v = top.get("shaping")) read_shaping(*v);
  if (auto* v = top.get("blacklist_monitor")) read_blacklist_monitor(*v);
  if (auto* v = top.get("cluster")) read_cluster(*v);
  apply_defaults();
  return config_;
}

// read_names - hostname, data_dir and users_file. The users file need not exist yet:
// `hato user add` creates it.
void Builder::read_names(MapReader& top) {
  if (auto* v = top.get("hostname")) {
    if (auto s = reader_.non_empty_string(*v)) {
      if (is_domain_name(*s)) {
        config_.hostname = *s;
      } else {
        reader_.error(*v, "'" + *s + "' is not a valid host name");
      }
    }
  }
  if (auto* v = top.get("data_dir")) {
    if (auto s = reader_.non_empty_string(*v)) config_.data_dir = *s;
  }
  if (auto* v = top.get("users_file")) {
    if (auto s = reader_.non_empty_string(*v)) config_.users_file = *s;
  }
  if (auto* v = top.get("user")) {
    if (auto s = reader_.non_empty_string(*v)) config_.user = *s;
  }
}

void Builder::read_admin(const Value& v) {
  MapReader m(reader_, v, {"socket", "metrics"});
  if (auto* s = m.get("socket")) {
    if (auto path = reader_.non_empty_string(*s)) config_.admin.socket = *path;
  }
  if (auto* s = m.get("metrics")) config_.admin.metrics = reader_.address(*s);
}

// read_inbound - where local mail lands and the checks inbound mail goes through.
void Builder::read_inbound(const Value& v) {
  MapReader m(reader_, v, {"maildir_root", "dnsbl", "dmarc", "scanners", "limits"}, {"spf"});
  if (auto* r = m.get("maildir_root")) {
    if (auto path = reader_.non_empty_string(*r)) config_.inbound.maildir_root = *path;
  }
  if (auto* d = m.get("dnsbl")) read_dnsbl(*d);
  if (auto* d = m.get("dmarc")) {
    auto mode = reader_.choice<DmarcMode>(*d, {{"enforce", DmarcMode::kEnforce},
                                               {"report", DmarcMode::kReport},
                                               {"off", DmarcMode::kOff}});
    if (mode) config_.inbound.dmarc = *mode;
  }
  if (auto* d = m.get("scanners")) read_scanners(*d);
  if (auto* d = m.get("limits")) read_inbound_limits(*d);
}

// read_scanners - {rspamd: {url, timeout, on_failure}, clamav: {address, timeout, on_failure}}.
void Builder::read_scanners(const Value& v) {
  MapReader m(reader_, v, {"rspamd", "clamav"});
  if (auto* r = m.get("rspamd")) config_.inbound.scanners.rspamd = read_scanner(*r, true);
  if (auto* c = m.get("clamav")) config_.inbound.scanners.clamav = read_scanner(*c, false);
}

// read_scanner - rspamd is reached by a url "http://127.0.0.1:11333" (a numeric address:
// no DNS on this path), clamd by "127.0.0.1:3310" or a Unix socket path.
std::optional<Scanner> Builder::read_scanner(const Value& v, bool http) {
  MapReader m(reader_, v, {http ? "url" : "address", "timeout", "on_failure"});
  if (!m.is_map()) return std::nullopt;
  Scanner scanner;
  bool ok = false;
  if (auto* a = m.require(http ? "url" : "address")) {
    if (auto text = reader_.non_empty_string(*a)) {
      std::string_view target = *text;
      if (http) {
        if (target.substr(0, 7) == "http://") {
          target.remove_prefix(7);
          if (!target.empty() && target.back() == '/') target.remove_suffix(1);
          if (target.substr(0, 10) == "localhost:") target = target.substr(9);
        } else {
          target = {};
        }
      }
      std::string host(target);
      if (http && !host.empty() && host.front() == ':') host = "127.0.0.1" + host;
      auto address =
          http ? SocketAddress::parse(host, 11333) : SocketAddress::parse_endpoint(host, 3310);
      if (target.empty()) {
        reader_.error(*a, "'" + *text + "' is not an http:// url with a numeric address");
      } else if (!address) {
        reader_.error(*a, address.message());
      } else {
        scanner.address = *address;
        ok = true;
      }
    }
  }
  if (auto* t = m.get("timeout")) {
    if (auto duration = reader_.duration(*t)) scanner.timeout = *duration;
  }
  if (auto* f = m.get("on_failure")) {
    auto accept = reader_.choice<bool>(*f, {{"tempfail", false}, {"accept", true}});
    if (accept) scanner.accept_on_failure = *accept;
  }
  if (!ok) return std::nullopt;
  return scanner;
}

// read_inbound_limits - {connections_per_client, messages_per_client: "60/m",
// error_slowdown: {after, delay, max_delay, disconnect_after, forget}}.
void Builder::read_inbound_limits(const Value& v) {
  MapReader m(reader_, v, {"connections_per_client", "messages_per_client", "error_slowdown"});
  InboundLimits& limits = config_.inbound.limits;
  if (auto* n = m.get("connections_per_client")) {
    if (auto count = reader_.number(*n, 1, kMaxU32))
      limits.connections_per_client = static_cast<uint32_t>(*count);
  }
  if (auto* r = m.get("messages_per_client")) {
    if (auto text = reader_.string(*r)) {
      auto rate = parse_rate(*text);
      double burst = 0;
      auto slash = text->find('/');
      if (rate) {
        // "60/m" allows 60 at once, then one a second: the count is the burst.
        auto head = text->substr(0, slash);
        auto [end, ec] = std::from_chars(head.data(), head.data() + head.size(), burst);
        if (ec != std::errc() || end != head.data() + head.size()) burst = 0;
      }
      if (!rate) {
        reader_.error(*r, rate.message());
      } else {
        limits.messages_per_second = *rate;
        limits.messages_burst = std::max(1.0, burst);
      }
    }
  }
  if (auto* e = m.get("error_slowdown")) {
    MapReader s(reader_, *e, {"after", "delay", "max_delay", "disconnect_after", "forget"});
    ErrorSlowdown& slow = limits.error_slowdown;
    if (auto* n = s.get("after")) {
      if (auto count = reader_.number(*n, 0, kMaxU32)) slow.after = static_cast<uint32_t>(*count);
    }
    if (auto* n = s.get("disconnect_after")) {
      if (auto count = reader_.number(*n, 1, kMaxU32))
        slow.disconnect_after = static_cast<uint32_t>(*count);
    }
    const std::pair<std::string_view, Duration*> durations[] = {
        {"delay", &slow.delay}, {"max_delay", &slow.max_delay}, {"forget", &slow.forget}};
    for (const auto& [key, field] : durations) {
      if (auto* d = s.get(key)) {
        if (auto duration = reader_.duration(*d)) *field = *duration;
      }
    }
    if (slow.max_delay < slow.delay) slow.max_delay = slow.delay;
  }
}

// read_dnsbl - [{zone, action}]; a zone named twice would be asked twice for nothing.
void Builder::read_dnsbl(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  std::map<std::string, Position> seen;
  for (const auto& item : *items) {
    MapReader m(reader_, item, {"zone", "action"});
    if (!m.is_map()) continue;
    DnsblZone zone;
    if (auto* z = m.require("zone")) {
      if (auto name = reader_.non_empty_string(*z)) {
        std::string lower = ascii_lower(*name);
        if (!lower.empty() && lower.back() == '.') lower.pop_back();
        if (is_domain_name(lower)) {
          zone.zone = lower;
          check_unique(seen, lower, *z, "DNSBL zone");
        } else {
          reader_.error(*z, "'" + *name + "' is not a valid DNS zone");
        }
      }
    }
    if (auto* a = m.get("action")) {
      auto action = reader_.choice<DnsblAction>(
          *a, {{"reject", DnsblAction::kReject}, {"mark", DnsblAction::kMark}});
      if (action) zone.action = *action;
    }
    if (!zone.zone.empty()) config_.inbound.dnsbl.push_back(std::move(zone));
  }
}

void Builder::read_log(const Value& v) {
  MapReader m(reader_, v, {"format"});
  if (auto* f = m.get("format")) {
    auto format =
        reader_.choice<LogFormat>(*f, {{"text", LogFormat::kText}, {"json", LogFormat::kJson}});
    if (format) config_.log_format = *format;
  }
}

// read_tls - the certificate and key, which only make sense as a pair, or `acme`.
void Builder::read_tls(const Value& v) {
  MapReader m(reader_, v, {"certificate", "key", "acme"});
  if (!m.is_map()) return;
  if (auto* a = m.get("acme")) {
    // With acme, certificate and key (default <data_dir>/acme/) are where Hato writes the
    // pair it obtains: they need not exist yet.
    read_acme(*a);
    if (auto* c = m.get("certificate"))
      config_.tls.certificate = reader_.non_empty_string(*c).value_or("");
    if (auto* k = m.get("key")) config_.tls.key = reader_.non_empty_string(*k).value_or("");
    if ((m.get("certificate") == nullptr) != (m.get("key") == nullptr))
      reader_.error(v, "certificate and key must be given together");
    return;
  }
  const Value* certificate = m.get("certificate");
  const Value* key = m.get("key");
  if (certificate) {
    if (auto path = existing_file(*certificate)) config_.tls.certificate = *path;
  }
  if (key) {
    if (auto path = existing_file(*key)) config_.tls.key = *path;
  }
  if ((certificate == nullptr) != (key == nullptr))
    reader_.error(v, "certificate and key must be given together");
}

void Builder::read_acme(const Value& v) {
  MapReader m(reader_, v, {"directory", "email", "http", "domains", "ca_file", "renew_before"});
  if (!m.is_map()) return;
  Acme acme;
  if (auto* d = m.get("directory")) {
    if (auto text = reader_.non_empty_string(*d)) {
      if (auto url = parse_url(*text); url && url->https) {
        acme.directory = *text;
      } else {
        reader_.error(*d, "must be an https:// URL");
      }
    }
  }
  if (auto* e = m.get("email")) {
    if (auto text = reader_.non_empty_string(*e)) acme.email = *text;
  }
  if (auto* h = m.get("http")) acme.http = reader_.address(*h, 80);
  if (auto* d = m.get("domains")) {
    if (auto items = reader_.items(*d)) {
      for (const auto& item : *items) {
        auto name = reader_.non_empty_string(item);
        if (!name) continue;
        if (is_domain_name(*name)) {
          acme.domains.push_back(*name);
        } else {
          reader_.error(item, "'" + *name + "' is not a valid host name");
        }
      }
    }
  }
  if (auto* c = m.get("ca_file")) {
    if (auto path = existing_file(*c)) acme.ca_file = *path;
  }
  if (auto* r = m.get("renew_before")) {
    if (auto d = reader_.duration(*r)) acme.renew_before = *d;
  }
  config_.tls.acme = std::move(acme);
}

void Builder::read_mta_sts(const Value& v) {
  MapReader m(reader_, v, {"listen", "mode", "max_age", "mx"});
  if (!m.is_map()) return;
  MtaStsHosting& h = config_.mta_sts;
  if (auto* l = m.get("listen")) h.listen = reader_.address(*l, 443);
  if (auto* mode = m.get("mode")) {
    auto word = reader_.choice<std::string>(
        *mode, {{"testing", "testing"}, {"enforce", "enforce"}, {"none", "none"}});
    if (word) h.mode = *word;
  }
  if (auto* a = m.get("max_age")) {
    // RFC 8461 3.2: at most a year.
    if (auto d = reader_.duration(*a)) {
      auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
      if (seconds > 31557600) {
        reader_.error(*a, "must be at most a year (RFC 8461)");
      } else {
        h.max_age = seconds;
      }
    }
  }
  if (auto* x = m.get("mx")) {
    if (auto items = reader_.items(*x)) {
      for (const auto& item : *items) {
        if (auto name = reader_.non_empty_string(item)) h.mx.push_back(*name);
      }
    }
  }
}

void Builder::read_listeners(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  if (items->empty()) reader_.error(v, "at least one listener is required");
  for (const auto& item : *items) read_listener(item);
}

void Builder::read_listener(const Value& v) {
  MapReader m(reader_, v, {"name", "address", "role", "tls", "trusted_networks", "bare_lf"});
  if (!m.is_map()) return;
  Listener listener;
  if (auto* n = m.require("name")) {
    if (auto name = reader_.non_empty_string(*n)) {
      listener.name = *name;
      check_unique(listener_names_, *name, *n, "listener name");
    }
  }
  if (auto* a = m.require("address")) {
    if (auto address = reader_.address(*a)) listener.address = *address;
  }
  if (auto* r = m.require("role")) {
    auto role = reader_.choice<ListenerRole>(
        *r, {{"submission", ListenerRole::kSubmission}, {"inbound", ListenerRole::kInbound}});
    if (role) listener.role = *role;
  }
  if (auto* t = m.get("tls")) {
    auto tls = reader_.choice<ListenerTls>(*t, {{"starttls", ListenerTls::kStartTls},
                                                {"implicit", ListenerTls::kImplicit},
                                                {"none", ListenerTls::kNone}});
    if (tls) listener.tls = *tls;
  }
  if (auto* t = m.get("trusted_networks")) {
    if (auto networks = reader_.items(*t)) {
      for (const auto& network : *networks) {
        if (auto cidr = reader_.cidr(network)) listener.trusted_networks.push_back(*cidr);
      }
    }
  }
  if (auto* b = m.get("bare_lf")) {
    auto mode = reader_.choice<BareLf>(
        *b, {{"normalize", BareLf::kNormalize}, {"reject", BareLf::kReject}});
    if (mode) listener.bare_lf = *mode;
  }
  config_.listeners.push_back(std::move(listener));
}

void Builder::read_domains(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  for (const auto& item : *items) read_domain(item);
}

void Builder::read_domain(const Value& v) {
  MapReader m(reader_, v, {"name", "dkim", "mailboxes", "aliases", "lmtp"});
  if (!m.is_map()) return;
  Domain domain;
  if (auto* l = m.get("lmtp")) {
    if (auto text = reader_.non_empty_string(*l)) {
      auto address = SocketAddress::parse_endpoint(*text, 24);
      if (address) {
        domain.lmtp = *address;
      } else {
        reader_.error(*l, address.message());
      }
    }
  }
  if (auto* n = m.require("name")) {
    if (auto name = reader_.non_empty_string(*n)) {
      if (is_domain_name(*name)) {
        domain.name = ascii_lower(*name);
        check_unique(domain_names_, domain.name, *n, "domain");
      } else {
        reader_.error(*n, "'" + *name + "' is not a valid domain name");
      }
    }
  }
  if (auto* d = m.get("dkim")) read_dkim(*d, &domain);
  // Mailboxes first whatever the order in the file: aliases are checked against them.
  if (auto* b = m.get("mailboxes")) read_mailboxes(*b, &domain);
  if (auto* a = m.get("aliases")) read_aliases(*a, &domain);
  config_.domains.push_back(std::move(domain));
}

void Builder::read_dkim(const Value& v, Domain* domain) {
  auto items = reader_.items(v);
  if (!items) return;
  std::map<std::string, Position> selectors;
  for (const auto& item : *items) {
    MapReader m(reader_, item, {"selector", "algorithm", "key"});
    if (!m.is_map()) continue;
    DkimKey key;
    if (auto* s = m.require("selector")) {
      if (auto selector = reader_.non_empty_string(*s)) {
        // A selector is a DNS name below _domainkey (RFC 6376 section 3.1).
        if (is_domain_name(*selector)) {
          key.selector = *selector;
          check_unique(selectors, ascii_lower(*selector), *s, "selector");
        } else {
          reader_.error(*s, "'" + *selector + "' is not a valid selector");
        }
      }
    }
    if (auto* a = m.get("algorithm")) {
      auto algorithm = reader_.choice<std::string>(
          *a, {{"rsa-sha256", "rsa-sha256"}, {"ed25519-sha256", "ed25519-sha256"}});
      if (algorithm) key.algorithm = *algorithm;
    }
    if (auto* k = m.require("key")) {
      if (auto path = existing_file(*k)) key.key_file = *path;
    }
    domain->dkim.push_back(std::move(key));
  }
}

void Builder::read_mailboxes(const Value& v, Domain* domain) {
  auto items = reader_.items(v);
  if (!items) return;
  std::map<std::string, Position> seen;
  for (const auto& item : *items) {
    auto text = reader_.non_empty_string(item);
    if (!text) continue;
    std::string mailbox = ascii_lower(*text);
    if (!is_local_part(mailbox)) {
      reader_.error(item, "'" + *text + "' is not a valid mailbox name");
      continue;
    }
    check_unique(seen, mailbox, item, "mailbox");
    domain->mailboxes.push_back(std::move(mailbox));
  }
}

// read_aliases - local part -> mailbox of the same domain; an alias may not shadow a
// mailbox, or mail for one name would go to two places.
void Builder::read_aliases(const Value& v, Domain* domain) {
  auto entries = reader_.entries(v);
  if (!entries) return;
  const std::string& mailboxes_of = domain->name.empty() ? "this domain" : domain->name;
  auto is_mailbox = [&](const std::string& name) {
    return std::find(domain->mailboxes.begin(), domain->mailboxes.end(), name) !=
           domain->mailboxes.end();
  };
  std::map<std::string, Position> seen;
  for (const auto& entry : *entries) {
    std::string alias = ascii_lower(entry.key);
    if (!is_local_part(alias)) {
      reader_.error_at(entry.key_at, v.path, "'" + entry.key + "' is not a valid alias name");
      continue;
    }
    if (is_mailbox(alias)) {
      reader_.error_at(entry.key_at, v.path, "'" + alias + "' is both a mailbox and an alias");
      continue;
    }
    auto [first, inserted] = seen.emplace(alias, entry.key_at);
    if (!inserted) {
      reader_.error_at(entry.key_at, v.path,
                       "duplicate alias '" + alias + "' (first at line " +
                           std::to_string(first->second.line) + ")");
      continue;
    }
    auto target = reader_.non_empty_string(entry.value);
    if (!target) continue;
    std::string mailbox = ascii_lower(*target);
    if (!is_mailbox(mailbox)) {
      reader_.error(entry.value, "'" + *target + "' is not a mailbox of " + mailboxes_of);
      continue;
    }
    domain->aliases[alias] = mailbox;
  }
}

void Builder::read_dns(const Value& v) {
  MapReader m(reader_, v, {"servers"});
  if (auto* s = m.get("servers")) {
    auto items = reader_.items(*s);
    if (!items) return;
    for (const auto& item : *items) {
      if (auto address = reader_.address(item, 53)) config_.dns_servers.push_back(*address);
    }
  }
}

void Builder::read_delivery(const Value& v) {
  MapReader m(reader_, v,
              {"port", "smarthost", "tls", "retry", "ca_file", "mta_sts_port", "tls_report_from",
               "tls_report_organization"});
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
  MapReader m(reader_, v, {"host", "port", "tls", "username", "password_file"});
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
  MapReader m(reader_, v, {"first", "max_interval", "max_age", "delay_warning"});
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

void Builder::read_limits(const Value& v) {
  MapReader m(reader_, v,
              {"max_message_size", "max_recipients", "max_errors", "command_timeout",
               "data_timeout", "max_connections"});
  Limits& limits = config_.limits;
  if (auto* s = m.get("max_message_size")) {
    if (auto size = reader_.size(*s)) limits.max_message_size = *size;
  }
  const std::pair<std::string_view, uint32_t*> counts[] = {
      {"max_recipients", &limits.max_recipients},
      {"max_errors", &limits.max_errors},
      {"max_connections", &limits.max_connections}};
  for (const auto& [key, field] : counts) {
    if (auto* n = m.get(key)) {
      if (auto count = reader_.number(*n, 1, kMaxU32)) *field = static_cast<uint32_t>(*count);
    }
  }
  const std::pair<std::string_view, Duration*> timeouts[] = {
      {"command_timeout", &limits.command_timeout}, {"data_timeout", &limits.data_timeout}};
  for (const auto& [key, field] : timeouts) {
    if (auto* d = m.get(key)) {
      if (auto duration = reader_.duration(*d)) *field = *duration;
    }
  }
}

void Builder::read_allowed_senders(const Value& v) {
  auto entries = reader_.entries(v);
  if (!entries) return;
  for (const auto& entry : *entries) {
    if (entry.key.empty()) {
      reader_.error_at(entry.key_at, v.path, "user name must not be empty");
      continue;
    }
    auto items = reader_.items(entry.value);
    if (!items) continue;
    std::vector<std::string>& senders = config_.allowed_senders[entry.key];
    for (const auto& item : *items) {
      if (auto sender = read_sender(item)) senders.push_back(std::move(*sender));
    }
  }
}

// read_sender - "user@domain" or "@domain", lower-cased as mailboxes are.
std::optional<std::string> Builder::read_sender(const Value& v) {
  auto text = reader_.non_empty_string(v);
  if (!text) return std::nullopt;
  std::string sender = ascii_lower(*text);
  size_t at = sender.rfind('@');
  bool valid = at != std::string::npos && is_domain_name(sender.substr(at + 1)) &&
               (at == 0 || is_local_part(sender.substr(0, at)));
  if (!valid) {
    reader_.error(v, "expected 'user@domain' or '@domain', got '" + *text + "'");
    return std::nullopt;
  }
  return sender;
}

// read_egress - [{address, helo, weight, warmup}]. An address twice would get two shares
// of the connections and two warm-up allowances under one reputation.
void Builder::read_egress(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  for (const auto& item : *items) {
    MapReader m(reader_, item, {"address", "helo", "weight", "warmup"});
    if (!m.is_map()) continue;
    Egress egress;
    if (auto* a = m.require("address")) {
      if (auto address = reader_.address(*a, 0)) {
        if (address->port() != 0) {
          reader_.error(*a, "a source address takes no port");
        } else {
          egress.address = *address;
          check_unique(egress_addresses_, address->ip(), *a, "egress address");
        }
      }
    }
    if (auto* h = m.get("helo")) {
      if (auto helo = reader_.non_empty_string(*h)) {
        if (is_domain_name(*helo)) {
          egress.helo = *helo;
        } else {
          reader_.error(*h, "'" + *helo + "' is not a valid host name");
        }
      }
    }
    if (auto* w = m.get("weight")) {
      if (auto weight = reader_.number(*w, 1, 1000000))
        egress.weight = static_cast<uint32_t>(*weight);
    }
    if (auto* w = m.get("warmup")) read_warmup(*w, &egress);
    config_.egress.push_back(std::move(egress));
  }
}

// read_warmup - {start, daily, per_provider}; without daily, the built-in curve.
void Builder::read_warmup(const Value& v, Egress* egress) {
  MapReader m(reader_, v, {"start", "daily", "per_provider"});
  if (!m.is_map()) return;
  Warmup warmup;
  if (auto* s = m.require("start")) {
    if (auto text = reader_.string(*s)) {
      auto day = parse_date(*text);
      if (day) {
        warmup.start_day = *day;
      } else {
        reader_.error(*s, day.message());
      }
    }
  }
  if (auto* d = m.get("daily")) {
    if (auto items = reader_.items(*d)) {
      // An empty list would read as "no schedule" while saying "a schedule of nothing".
      if (items->empty())
        reader_.error(*d, "must not be empty (leave it out for the built-in schedule)");
      for (const auto& item : *items) {
        if (auto count = reader_.number(item, 1, kMaxU32)) warmup.daily.push_back(*count);
      }
    }
  }
  if (auto* p = m.get("per_provider")) {
    if (auto on = reader_.choice<bool>(*p, {{"true", true}, {"false", false}})) {
      warmup.per_provider = *on;
    }
  }
  egress->warmup = std::move(warmup);
}

// read_shaping - {providers, suspend_on, default}. Providers first whatever the order in
// the file: suspension rules name them.
void Builder::read_shaping(const Value& v) {
  MapReader m(reader_, v, {"providers", "suspend_on", "default"});
  if (!m.is_map()) return;
  if (auto* p = m.get("providers")) {
    if (auto items = reader_.items(*p)) {
      for (const auto& item : *items) read_provider(item);
    }
  }
  if (auto* s = m.get("suspend_on")) {
    if (auto items = reader_.items(*s)) {
      for (const auto& item : *items) read_suspend_rule(item);
    }
  }
  if (auto* d = m.get("default")) {
    MapReader limits(reader_, *d, {"connections", "messages_per_connection", "rate"});
    if (limits.is_map()) read_shaping_limits(limits, &config_.shaping.defaults);
  }
}

// is_provider_name - a word fit for metric labels and state keys.
bool is_provider_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

bool is_builtin_provider(std::string_view name) {
  return std::find(std::begin(kBuiltinProviders), std::end(kBuiltinProviders), name) !=
         std::end(kBuiltinProviders);
}

// read_provider - {name, mx_suffix, connections, messages_per_connection, rate}. A built-in
// provider named here keeps what is not given; a new one needs its MX suffixes.
void Builder::read_provider(const Value& v) {
  MapReader m(reader_, v, {"name", "mx_suffix", "connections", "messages_per_connection", "rate"});
  if (!m.is_map()) return;
  Provider provider;
  if (auto* n = m.require("name")) {
    if (auto name = reader_.non_empty_string(*n)) {
      std::string lower = ascii_lower(*name);
      if (lower == "default") {
        reader_.error(*n,
                      "'default' stands for every other destination; set its limits in "
                      "shaping.default");
      } else if (!is_provider_name(lower)) {
        reader_.error(*n,
                      "'" + *name + "' is not a valid provider name (letters, digits, - and _)");
      } else {
        provider.name = lower;
        check_unique(provider_names_, lower, *n, "provider");
      }
    }
  }
  if (auto* s = m.get("mx_suffix")) {
    if (auto items = reader_.items(*s)) {
      for (const auto& item : *items) {
        auto text = reader_.non_empty_string(item);
        if (!text) continue;
        std::string suffix = ascii_lower(*text);
        // ".google.com" and "google.com." mean the same suffix.
        while (!suffix.empty() && suffix.front() == '.') suffix.erase(0, 1);
        while (!suffix.empty() && suffix.back() == '.') suffix.pop_back();
        if (!is_domain_name(suffix)) {
          reader_.error(item, "'" + *text + "' is not a valid domain name");
          continue;
        }
        check_unique(mx_suffixes_, suffix, item, "mx_suffix");
        provider.mx_suffix.push_back(std::move(suffix));
      }
    }
  } else if (!provider.name.empty() && !is_builtin_provider(provider.name)) {
    reader_.error(v, "missing required key 'mx_suffix' ('" + provider.name +
                         "' is not built in like google, microsoft, yahoo and apple)");
  }
  read_shaping_limits(m, &provider);
  if (!provider.name.empty()) config_.shaping.providers.push_back(std::move(provider));
}

void Builder::read_shaping_limits(const MapReader& m, Provider* provider) {
  if (auto* c = m.get("connections")) {
    if (auto n = reader_.number(*c, 1, kMaxU32)) provider->connections = static_cast<uint32_t>(*n);
  }
  if (auto* c = m.get("messages_per_connection")) {
    if (auto n = reader_.number(*c, 1, kMaxU32))
      provider->messages_per_connection = static_cast<uint32_t>(*n);
  }
  if (auto* r = m.get("rate")) {
    if (auto text = reader_.string(*r)) {
      auto rate = parse_rate(*text);
      if (rate) {
        provider->rate_per_second = *rate;
      } else {
        reader_.error(*r, rate.message());
      }
    }
  }
}

// read_suspend_rule - {reply, provider, for, rate}. The expression is compiled here as
// the limiter will, so a bad one shows in `hato config check` rather than at start.
void Builder::read_suspend_rule(const Value& v) {
  MapReader m(reader_, v, {"reply", "provider", "for", "rate"});
  if (!m.is_map()) return;
  SuspendRule rule;
  if (auto* r = m.require("reply")) {
    auto text = reader_.non_empty_string(*r);
    // libstdc++ compiles and matches by recursion: a bounded expression bounds the stack.
    if (text && text->size() > kMaxReplyRegex) {
      reader_.error(*r, "regular expression too long (at most " + std::to_string(kMaxReplyRegex) +
                            " characters)");
    } else if (text) {
      try {
        std::regex compiled(*text, std::regex::ECMAScript | std::regex::icase);
        rule.reply_regex = *text;
      } catch (const std::regex_error& e) {
        reader_.error(*r, "bad regular expression '" + *text + "': " + e.what());
      }
    }
  }
  if (auto* p = m.get("provider")) {
    if (auto name = reader_.non_empty_string(*p)) {
      std::string lower = ascii_lower(*name);
      std::vector<std::string_view> known(std::begin(kBuiltinProviders),
                                          std::end(kBuiltinProviders));
      known.push_back("default");
      for (const auto& [configured, at] : provider_names_) known.push_back(configured);
      if (std::find(known.begin(), known.end(), lower) == known.end()) {
        std::string message = "unknown provider '" + *name + "'";
        std::string suggestion = closest_match(lower, known);
        if (!suggestion.empty()) message += ", did you mean '" + suggestion + "'?";
        reader_.error(*p, message);
      } else {
        rule.provider = lower;
      }
    }
  }
  if (auto* f = m.get("for")) {
    if (auto duration = reader_.duration(*f)) rule.for_ = *duration;
  }
  if (auto* r = m.get("rate")) {
    if (auto text = reader_.string(*r)) {
      auto rate = parse_rate(*text);
      if (rate) {
        rule.rate_per_second = *rate;
      } else {
        reader_.error(*r, rate.message());
      }
    }
  }
  config_.shaping.suspend_on.push_back(std::move(rule));
}

// read_blacklist_monitor - {interval, zones, domain_zones, webhook, clean_checks,
// keep_last_address, notify}.
// read_cluster - {redis, node, local_share, lease}. The redis address is numeric
// ("redis://127.0.0.1:6379", "redis://[::1]:6379"); "localhost" is taken as 127.0.0.1.
void Builder::read_cluster(const Value& v) {
  MapReader m(reader_, v, {"redis", "node", "local_share", "lease"});
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

void Builder::read_blacklist_monitor(const Value& v) {
  MapReader m(reader_, v,
              {"interval", "zones", "domain_zones", "webhook", "clean_checks", "keep_last_address",
               "notify"});
  if (!m.is_map()) return;
  BlacklistMonitor& b = config_.blacklist_monitor;
  b.enabled = true;
  if (auto* i = m.get("interval")) {
    if (auto duration = reader_.duration(*i)) {
      // Lists answer a query a second at most from one resolver; shorter is for tests.
      if (*duration < std::chrono::seconds(1)) {
        reader_.error(*i, "must be at least 1s");
      } else {
        b.interval = *duration;
      }
    }
  }
  if (auto* z = m.get("zones")) b.zones = read_zones(*z);
  if (auto* z = m.get("domain_zones")) b.domain_zones = read_zones(*z);
  if (auto* w = m.get("webhook")) {
    if (auto text = reader_.non_empty_string(*w)) {
      auto url = parse_url(*text);
      if (url) {
        b.webhook = *text;
        b.webhook_url = *url;
      } else {
        reader_.error(*w, url.message());
      }
    }
  }
  if (auto* c = m.get("clean_checks")) {
    if (auto n = reader_.number(*c, 1, 1000)) b.clean_checks = static_cast<uint32_t>(*n);
  }
  if (auto* k = m.get("keep_last_address")) {
    if (auto on = reader_.choice<bool>(*k, {{"true", true}, {"false", false}}))
      b.keep_last_address = *on;
  }
  if (auto* n = m.get("notify")) {
    if (auto address = read_sender(*n)) {
      if (address->front() == '@') {
        reader_.error(*n, "expected an address 'user@domain'");
      } else {
        b.notify = *address;
      }
    }
  }
}

// read_zones - DNS zone names, lower case without the trailing dot, each once.
std::vector<std::string> Builder::read_zones(const Value& v) {
  std::vector<std::string> out;
  auto items = reader_.items(v);
  if (!items) return out;
  std::map<std::string, Position> seen;
  for (const auto& item : *items) {
    auto name = reader_.non_empty_string(item);
    if (!name) continue;
    std::string lower = ascii_lower(*name);
    if (!lower.empty() && lower.back() == '.') lower.pop_back();
    if (!is_domain_name(lower)) {
      reader_.error(item, "'" + *name + "' is not a valid DNS zone");
      continue;
    }
    check_unique(seen, lower, item, "zone");
    out.push_back(std::move(lower));
  }
  return out;
}

void Builder::apply_defaults() {
  if (config_.hostname.empty()) config_.hostname = system_hostname();
  if (config_.data_dir.empty()) config_.data_dir = kDefaultDataDir;
  if (config_.users_file.empty()) config_.users_file = join_path(config_.data_dir, "users");
  if (config_.admin.socket.empty())
    config_.admin.socket = join_path(config_.data_dir, "admin.sock");
  if (config_.inbound.maildir_root.empty())
    config_.inbound.maildir_root = join_path(config_.data_dir, "mail");
  for (auto& egress : config_.egress) {
    if (egress.helo.empty()) egress.helo = config_.hostname;
  }
  config_.shaping.defaults.name = "default";
  if (config_.tls.acme) {
    auto& acme = *config_.tls.acme;
    if (config_.tls.certificate.empty()) {
      config_.tls.certificate = join_path(config_.data_dir, "acme/cert.pem");
      config_.tls.key = join_path(config_.data_dir, "acme/key.pem");
    }
    if (acme.domains.empty()) {
      acme.domains.push_back(config_.hostname);
      for (const auto& d : config_.domains) acme.domains.push_back("mta-sts." + d.name);
    }
  }
  if (config_.mta_sts.mx.empty()) config_.mta_sts.mx.push_back(config_.hostname);
  if (config_.blacklist_monitor.notify.empty()) {
    config_.blacklist_monitor.notify =
        "postmaster@" + (config_.domains.empty() ? config_.hostname : config_.domains[0].name);
  }
}

// existing_file - a path that must name an existing file now, so that a typo shows in
// `hato config check` instead of at the first TLS handshake or signature. Relative paths
// are kept as written (relative to the daemon's working directory).
std::optional<std::string> Builder::existing_file(const Value& v) {
  auto path = reader_.non_empty_string(v);
  if (!path) return std::nullopt;
  struct stat st;
  if (stat(path->c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      reader_.error(v, "file not found: " + *path);
    } else {
      reader_.error(v, "cannot access " + *path + ": " + std::strerror(errno));
    }
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    reader_.error(v, *path + " is a directory, not a file");
    return std::nullopt;
  }
  return path;
}

// check_unique - reports `name` when it was seen before, else remembers where it is.
void Builder::check_unique(std::map<std::string, Position>& seen, const std::string& name,
                           const Value& v, std::string_view what) {
  auto [first, inserted] = seen.emplace(name, v.at);
  if (!inserted) {
    reader_.error(v, "duplicate " + std::string(what) + " '" + name + "' (first at line " +
                         std::to_string(first->second.line) + ")");
  }
}

}  // namespace

const Domain* Config::find_domain(std::string_view name) const {
  const std::string wanted = ascii_lower(name);
  for (const auto& domain : domains) {
    if (domain.name == wanted) return &domain;
  }
  return nullptr;
}

bool same_egress_and_shaping(const Config& a, const Config& b) {
  if (a.egress.size() != b.egress.size()) return false;
  for (size_t i = 0; i < a.egress.size(); ++i) {
    const Egress& x = a.egress[i];
    const Egress& y = b.egress[i];
    // Warm-up schedules are not compared: a reload applies them (Limiter::set_warmup).
    if (x.address.to_string() != y.address.to_string() || x.helo != y.helo || x.weight != y.weight)
      return false;
  }
  return a.shaping == b.shaping;
}

LoadResult load_string(const std::string& yaml, const std::string& name) {
  Problems problems;
  Config config;
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(yaml);
    // A second document would be silently ignored by anything reading the first.
    if (documents.size() > 1)
      problems.add(position_of(documents[1].Mark()), "only one YAML document is allowed");
    Value root{documents.empty() ? YAML::Node() : documents[0], "", Position{}};
    if (!documents.empty() && !root.node.Mark().is_null()) root.at = position_of(root.node.Mark());
    Builder builder(problems);
    config = builder.build(root);
  } catch (const YAML::Exception& e) {
    problems.add(position_of(e.mark), "YAML syntax error: " + e.msg);
  }
  LoadResult result;
  if (!problems.empty()) {
    result.errors = problems.format(name);
    return result;
  }
  config.source = name;
  result.config = std::make_shared<const Config>(std::move(config));
  return result;
}

LoadResult load_file(const std::string& path) {
  auto content = read_file(path);
  if (!content) {
    LoadResult result;
    result.errors.push_back(path + ":1:1: cannot read file: " + content.message());
    return result;
  }
  return load_string(*content, path);
}

ConfigPtr embedded_default(const std::string& data_dir) {
  auto config = std::make_shared<Config>();
  config->source = kEmbeddedSource;
  config->hostname = "localhost";
  config->data_dir = data_dir;
  config->users_file = join_path(data_dir, "users");
  config->admin.socket = join_path(data_dir, "admin.sock");
  config->inbound.maildir_root = join_path(data_dir, "mail");
  config->tls.certificate = join_path(data_dir, "tls/cert.pem");
  config->tls.key = join_path(data_dir, "tls/key.pem");

  Listener mx;
  mx.name = "mx";
  mx.address = SocketAddress::parse("127.0.0.1:2525").value();
  mx.role = ListenerRole::kInbound;
  mx.tls = ListenerTls::kStartTls;
  config->listeners.push_back(std::move(mx));

  Listener submission;
  submission.name = "submission";
  submission.address = SocketAddress::parse("127.0.0.1:2587").value();
  submission.role = ListenerRole::kSubmission;
  submission.tls = ListenerTls::kStartTls;
  config->listeners.push_back(std::move(submission));

  Domain localhost;
  localhost.name = "localhost";
  localhost.mailboxes = {"postmaster", "dev"};
  DkimKey key;  // made by `hato serve` on first start
  key.selector = "hato";
  key.algorithm = "rsa-sha256";
  key.key_file = join_path(data_dir, "dkim/localhost.hato.pem");
  localhost.dkim.push_back(std::move(key));
  config->domains.push_back(std::move(localhost));
  return config;
}

std::string find_config_file(const std::string& given) {
  if (!given.empty()) return given;
  for (const char* candidate : {"./hato.yaml", "/etc/hato/hato.yaml"}) {
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) return candidate;
  }
  return "";
}

}  // namespace hato::conf
