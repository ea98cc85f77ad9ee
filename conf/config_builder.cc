// config_builder.cc - the Builder's top level: the sections in order, the names, the admin
// socket and the log, then the defaults; and the checks every section shares.
#include "conf/config_builder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <regex>

namespace hato::conf {

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

}  // namespace hato::conf

namespace hato::conf::detail {

namespace {

constexpr char kDefaultDataDir[] = "/var/lib/hato";

std::string system_hostname() {
  char buf[HOST_NAME_MAX + 1] = "";
  if (gethostname(buf, sizeof buf) != 0 || buf[0] == '\0') return "localhost";
  buf[HOST_NAME_MAX] = '\0';
  return buf;
}

}  // namespace

std::string join_path(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return dir + std::string(name);
  return dir + "/" + std::string(name);
}

Config Builder::build(const Value& root) {
  MapReader top(reader_, root, keys::kTop);
  if (!top.is_map()) return config_;
  read_names(top);
  if (auto* v = top.get("auth")) read_auth(*v);
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
  if (auto* v = top.get("bounces")) read_bounces(*v);
  if (auto* v = top.get("suppression")) read_suppression(*v);
  if (auto* v = top.get("complaints")) read_complaints(*v);
  if (auto* v = top.get("dmarc_reports")) read_dmarc_reports(*v);
  if (auto* v = top.get("events")) read_events(*v);
  apply_defaults();
  check_web();
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

// read_auth - {cache_ttl, cache_size}; a ttl of 0 turns the cache off.
void Builder::read_auth(const Value& v) {
  MapReader m(reader_, v, keys::kAuth);
  if (auto* t = m.get("cache_ttl")) {
    auto text = reader_.string(*t);
    if (text && *text == "0") {
      config_.auth.cache_ttl = Duration(0);
    } else if (auto duration = reader_.duration(*t)) {
      config_.auth.cache_ttl = *duration;
    }
  }
  if (auto* n = m.get("cache_size")) {
    if (auto size = reader_.number(*n, 1, 10000000)) config_.auth.cache_size = *size;
  }
}

void Builder::read_admin(const Value& v) {
  MapReader m(reader_, v, keys::kAdmin);
  if (auto* s = m.get("socket")) {
    if (auto path = reader_.non_empty_string(*s)) config_.admin.socket = *path;
  }
  if (auto* s = m.get("metrics")) config_.admin.metrics = reader_.address(*s);
  if (auto* s = m.get("web")) {
    config_.admin.web = reader_.address(*s);
    web_at_ = *s;
  }
}

// check_web - a dashboard off loopback carries passwords and session cookies: HTTPS only.
void Builder::check_web() {
  if (!config_.admin.web) return;
  const SocketAddress& a = *config_.admin.web;
  if (a.is_loopback() || !config_.tls.certificate.empty()) return;
  reader_.error(web_at_, a.to_string() +
                             " is not a loopback address: the dashboard needs HTTPS there, so "
                             "set tls.certificate (or tls.acme), or listen on 127.0.0.1");
}

void Builder::read_log(const Value& v) {
  MapReader m(reader_, v, keys::kLog);
  if (auto* f = m.get("format")) {
    auto format =
        reader_.choice<LogFormat>(*f, {{"text", LogFormat::kText}, {"json", LogFormat::kJson}});
    if (format) config_.log_format = *format;
  }
}

// read_reply_regex - a bad expression shows in `hato config check` rather than at start.
std::optional<std::string> Builder::read_reply_regex(const Value& v) {
  auto text = reader_.non_empty_string(v);
  if (!text) return std::nullopt;
  // libstdc++ compiles and matches by recursion: a bounded expression bounds the stack.
  if (text->size() > kMaxReplyRegex) {
    reader_.error(v, "regular expression too long (at most " + std::to_string(kMaxReplyRegex) +
                         " characters)");
    return std::nullopt;
  }
  try {
    std::regex compiled(*text, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error& e) {
    reader_.error(v, "bad regular expression '" + *text + "': " + e.what());
    return std::nullopt;
  }
  return text;
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

}  // namespace hato::conf::detail
