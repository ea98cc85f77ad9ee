// init_cmd.cc - `hato init`: the options checked, then the files in an order that a failure
// half-way can simply be run again (the keys first, kept when they exist; the config last),
// then the config read back through conf::load_file and `dns records` run on it, so what is
// printed is what `hato dns records` prints and the file is known to load.
#include "cli/init_cmd.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/daemon.h"
#include "cli/dkim_cmd.h"
#include "cli/dns_cmd.h"
#include "common/files.h"
#include "common/net.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "conf/config.h"
#include "net/tls.h"
#include "policy/auth.h"
#include "policy/dkim/key.h"

namespace hato::cli {

const char kInitUsage[] =
    "usage: hato init --domain D [--hostname H] [--public-ip A]... [--acme-email E]\n"
    "                 [--smarthost URL] [--mx] [--data-dir DIR] [--login NAME] [--force]\n"
    "                 [-c FILE]\n"
    "Writes FILE (default /etc/hato/hato.yaml) for a relay sending as D: submission on\n"
    "587 (STARTTLS) and 465 (TLS), inbound on 25 with --mx, DKIM keys (rsa-sha256 and\n"
    "ed25519-sha256) made now in FILE's directory, ACME for H (default mail.D) and mta-sts.D\n"
    "with --acme-email (else a self-signed certificate), egress addresses A with a warm-up,\n"
    "blacklist monitoring, data in DIR (default /var/lib/hato). URL: smtp://[USER:PASSWORD@]\n"
    "HOST[:PORT] (STARTTLS, port 587) or smtps://... (TLS, port 465) relays all mail.\n"
    "Makes the submission login NAME (default app) and prints its password once, then the\n"
    "DNS records to publish and the command that checks them. Looks nothing up. An existing\n"
    "FILE is kept unless --force; existing keys and certificate are always kept.\n";

namespace {

constexpr char kDefaultConfig[] = "/etc/hato/hato.yaml";
constexpr char kServiceUser[] = "hato";  // the package's system user

int usage(const std::string& problem) {
  std::cerr << "hato: " << problem << "\n" << kInitUsage;
  return kExitUsage;
}

struct SmarthostUrl {
  std::string host;
  int port = 587;
  std::string tls = "starttls";
  std::string username;
  std::string password;
};

struct Options {
  std::string domain;
  std::string hostname;
  std::vector<std::string> public_ips;  // numeric, as SocketAddress::ip() writes them
  std::string acme_email;
  std::optional<SmarthostUrl> smarthost;
  bool mx = false;
  bool force = false;
  std::string data_dir = "/var/lib/hato";
  std::string login = "app";
};

// Where everything goes: beside the configuration, as /etc/hato holds them for the package.
struct Paths {
  std::string config;
  std::string dir;
  std::string users;
  std::string dkim_dir;
  std::string rsa_key;
  std::string ed_key;
  std::string cert;  // without ACME: the self-signed certificate init makes
  std::string key;
  std::string smarthost_password;
};

// smtp://[user:password@]host[:port] or smtps://...; user and password percent-encoded.
Result<SmarthostUrl> parse_smarthost(std::string_view url) {
  SmarthostUrl out;
  if (url.starts_with("smtp://")) {
    url.remove_prefix(7);
  } else if (url.starts_with("smtps://")) {
    url.remove_prefix(8);
    out.tls = "implicit";
    out.port = 465;
  } else {
    return Result<SmarthostUrl>::error("--smarthost: the URL starts smtp:// or smtps://");
  }
  if (url.ends_with("/")) url.remove_suffix(1);
  if (url.find_first_of("/?#") != std::string_view::npos)
    return Result<SmarthostUrl>::error("--smarthost: a URL without path or query");
  if (size_t at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view info = url.substr(0, at);
    url.remove_prefix(at + 1);
    size_t colon = info.find(':');
    auto user = percent_decode(info.substr(0, colon));
    auto password = colon == std::string_view::npos ? std::optional<std::string>("")
                                                    : percent_decode(info.substr(colon + 1));
    if (!user || !password || user->empty())
      return Result<SmarthostUrl>::error("--smarthost: bad user or password in the URL");
    if (password->empty())
      return Result<SmarthostUrl>::error(
          "--smarthost: a user needs its password in the URL (smtp://USER:PASSWORD@HOST)");
    out.username = *user;
    out.password = *password;
  }
  std::string_view port;
  if (url.starts_with("[")) {
    size_t close = url.find(']');
    if (close == std::string_view::npos)
      return Result<SmarthostUrl>::error("--smarthost: bad host");
    out.host = url.substr(1, close - 1);
    std::string_view rest = url.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(":"))
      return Result<SmarthostUrl>::error("--smarthost: bad host");
    if (!rest.empty()) port = rest.substr(1);
  } else {
    size_t colon = url.find(':');
    out.host = url.substr(0, colon);
    if (colon != std::string_view::npos) port = url.substr(colon + 1);
  }
  if (!conf::is_domain_name(out.host) && !SocketAddress::parse(out.host, 0))
    return Result<SmarthostUrl>::error("--smarthost: '" + out.host +
                                       "' is no host name or address");
  if (!port.empty()) {
    int n = 0;
    for (char c : port)
      n = std::isdigit(static_cast<unsigned char>(c)) && n < 65536 ? n * 10 + (c - '0') : 70000;
    if (n < 1 || n > 65535) return Result<SmarthostUrl>::error("--smarthost: bad port");
    out.port = n;
  }
  return out;
}

// A YAML double-quoted scalar.
std::string q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string today_utc() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// The package's system user, when it exists and we may give files to it: the unit runs
// `hato serve` as that user, which must read the keys and the users file.
std::optional<passwd> service_account() {
  if (::geteuid() != 0) return std::nullopt;
  passwd* pw = ::getpwnam(kServiceUser);
  if (!pw) return std::nullopt;
  return *pw;
}

void give(const std::optional<passwd>& account, const std::string& path) {
  if (!account) return;
  if (::chown(path.c_str(), account->pw_uid, account->pw_gid) != 0) {
    std::cerr << "hato: warning: cannot give " << path << " to user " << kServiceUser << ": "
              << std::strerror(errno) << "\n";
  }
}

// The names, paths and user at the top of the file.
void yaml_head(std::ostream& y, const Options& o, const Paths& p, bool service_user) {
  const std::string& d = o.domain;
  y << "# " << p.config << " - written by `hato init --domain " << d << "` on " << today_utc()
    << ".\n"
    << "# Every key is described in README.md. After editing: `hato config check`, then\n"
    << "# `systemctl reload hato` (SIGHUP). `hato dns records` prints what DNS must publish\n"
    << "# for this file and `hato dns check` compares it with what DNS has.\n\n";

  y << "# The name in EHLO and Received headers: the MX of " << d << " points here, and its\n"
    << "# A/AAAA record and the PTR of each egress address should agree on it.\n"
    << "hostname: " << o.hostname << "\n\n"
    << "# The queue (RocksDB) and state, Maildirs below mail/, the admin socket admin.sock.\n"
    << "data_dir: " << q(o.data_dir) << "\n\n"
    << "# Submission logins (name:crypt-hash lines): `hato user add NAME`.\n"
    << "users_file: " << q(p.users) << "\n\n";
  if (service_user) {
    y << "# The package's unit runs hato as the user hato; init gave it the keys and users.\n"
      << "# Started as root, `user: hato` makes hato drop root after binding its ports.\n";
  } else {
    y << "# Started as root, hato drops root after binding its ports when this names a user;\n"
      << "# that user must be able to read the keys and users file (chown, chmod 600).\n";
  }
  y << "#user: hato\n\n";

  y << "log:\n  format: text                   # one line per event on stderr; or json\n\n";
}

// tls, mta_sts and the listeners.
void yaml_tls_listeners(std::ostream& y, const Options& o, const Paths& p) {
  const std::string& d = o.domain;
  y << "tls:\n";
  if (!o.acme_email.empty()) {
    y << "  # ACME (Let's Encrypt): hato obtains the certificate for these names and renews it,\n"
      << "  # answering the HTTP-01 challenge on port 80 (both names must resolve to this\n"
      << "  # host). Until the first one arrives it serves a self-signed certificate.\n"
      << "  acme:\n"
      << "    email: " << q(o.acme_email) << "\n"
      << "    http: \"0.0.0.0:80\"\n"
      << "    domains: [" << o.hostname << ", mta-sts." << d << "]\n\n";
  } else {
    y << "  # A self-signed certificate made by `hato init`: mail servers accept it for\n"
      << "  # STARTTLS, but mail clients checking certificates do not. Put a real one in\n"
      << "  # these files (hato re-reads them when they change), or use ACME instead:\n"
      << "  # acme: {email: you@" << d << ", http: \"0.0.0.0:80\"}   (hato init --acme-email)\n"
      << "  certificate: " << q(p.cert) << "\n"
      << "  key: " << q(p.key) << "\n\n";
  }

  y << "# Our MTA-STS policy (RFC 8461): the _mta-sts record of `hato dns records` announces\n"
    << "# it; mode testing asks senders to report (TLS-RPT), enforce makes them refuse\n"
    << "# plain text. Serving https://mta-sts." << d << "/ needs a certificate for that\n"
    << "# name, which ACME provides.\n"
    << "mta_sts:\n";
  if (!o.acme_email.empty()) {
    y << "  listen: \"0.0.0.0:443\"\n";
  } else {
    y << "  #listen: \"0.0.0.0:443\"          # with acme: only\n";
  }
  y << "  mode: testing\n\n";

  y << "listeners:\n"
    << "  # Applications and mail clients: AUTH with a login from users_file, over TLS only.\n"
    << "  - {name: submission, address: \"0.0.0.0:587\", role: submission, tls: starttls}\n"
    << "  - {name: submissions, address: \"0.0.0.0:465\", role: submission, tls: implicit}\n";
  if (o.mx) {
    y << "  # Mail from the Internet for " << d << " (the MX record points here).\n"
      << "  - {name: mx, address: \"0.0.0.0:25\", role: inbound, tls: starttls}\n\n";
  } else {
    y << "  # Mail from the Internet for " << d << " (hato init --mx): without it, the MX\n"
      << "  # record must name your existing mail server, not this host.\n"
      << "  #- {name: mx, address: \"0.0.0.0:25\", role: inbound, tls: starttls}\n\n";
  }
}

// The domain with its keys and report mailbox, and how mail leaves.
void yaml_domain_delivery(std::ostream& y, const Options& o, const Paths& p) {
  const std::string& d = o.domain;
  y << "domains:\n"
    << "  - name: " << d << "\n"
    << "    dkim:                        # made by hato init; records: `hato dns records`\n"
    << "      - {selector: s1, algorithm: rsa-sha256, key: " << q(p.rsa_key) << "}\n"
    << "      - {selector: e1, algorithm: ed25519-sha256, key: " << q(p.ed_key) << "}\n"
    << "    # DMARC aggregate reports and TLS-RPT reports go to postmaster@" << d << " (rua=\n"
    << "    # of the _dmarc and _smtp._tls records); with an mx listener they arrive here,\n"
    << "    # in the Maildir data_dir/mail/" << d << "/postmaster.\n"
    << "    mailboxes: [postmaster]\n"
    << "    aliases: {abuse: postmaster, dmarc: postmaster, tls-reports: postmaster}\n\n";

  y << "# dns:\n"
    << "#   servers: [\"127.0.0.1:53\"]    # a local validating resolver (unbound) enables DANE\n"
    << "#                                # and the blocklists below; default: resolv.conf\n\n";

  y << "delivery:\n"
    << "  tls: opportunistic             # or required: never send in the clear\n"
    << "  retry: {first: 5m, max_interval: 4h, max_age: 5d, delay_warning: 4h}\n"
    << "  tls_report_from: tls-reports@" << d << "   # sender of our TLS-RPT reports\n";
  if (o.smarthost) {
    const auto& s = *o.smarthost;
    y << "  # Every message goes through this relay instead of the recipients' MX hosts.\n"
      << "  smarthost: {host: " << q(s.host) << ", port: " << s.port << ", tls: " << s.tls;
    if (!s.username.empty()) {
      y << ", username: " << q(s.username) << ", password_file: " << q(p.smarthost_password);
    }
    y << "}\n";
  } else {
    y << "  # smarthost: {host: smtp.provider.example, port: 587, tls: starttls,\n"
      << "  #             username: u, password_file: /etc/hato/smarthost.pw}\n";
  }
  y << "\n";
}

// Egress addresses with their warm-up, inbound DMARC and the blocklist watch.
void yaml_egress_watch(std::ostream& y, const Options& o) {
  const std::string& d = o.domain;
  if (!o.public_ips.empty()) {
    y << "# Source addresses for outbound mail (each needs a PTR naming " << o.hostname << ",\n"
      << "# set at your provider). Receivers distrust a new address: the warm-up from `start`\n"
      << "# caps each UTC day's mail from it on the built-in curve (50 on day 1, roughly\n"
      << "# doubling to 100000 on day 12, no cap from day 13; `hato warmup status`). For an\n"
      << "# address with a good sending history, remove warmup.\n"
      << "egress:\n";
    for (const auto& ip : o.public_ips) {
      y << "  - {address: " << q(ip) << ", helo: " << o.hostname
        << ", warmup: {start: " << today_utc() << "}}\n";
    }
  } else {
    y << "# Source addresses for outbound mail, with a warm-up (hato init --public-ip):\n"
      << "# egress:\n"
      << "#   - {address: 192.0.2.10, helo: " << o.hostname << ", warmup: {start: " << today_utc()
      << "}}\n";
  }
  y << "\n";

  y << "inbound:\n"
    << "  dmarc: enforce                 # enforce | report | off\n\n";

  y << "# Our egress addresses and " << d << " watched on blocklists; a listed address leaves\n"
    << "# the rotation until it is clean, and postmaster@" << d << " is told. The lists refuse\n"
    << "# queries from public resolvers: set dns.servers to your own resolver.\n"
    << "blacklist_monitor:\n"
    << "  interval: 15m\n"
    << "  zones: [zen.spamhaus.org, b.barracudacentral.org, bl.spamcop.net]\n"
    << "  domain_zones: [dbl.spamhaus.org]\n"
    << "  clean_checks: 2\n";
}

std::string make_yaml(const Options& o, const Paths& p, bool service_user) {
  std::ostringstream y;
  yaml_head(y, o, p, service_user);
  yaml_tls_listeners(y, o, p);
  yaml_domain_delivery(y, o, p);
  yaml_egress_watch(y, o);
  return y.str();
}

// The DKIM key at `path`, made unless it is there (it may be published already).
Status ensure_dkim_key(const std::string& path, const Options& o, const char* selector,
                       dkim::Algorithm alg, const std::optional<passwd>& account) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    std::cout << "DKIM key kept: " << path << "\n";
    return Status::ok();
  }
  auto record = new_dkim_key(path, o.domain, selector, alg);
  if (!record) return record.status();
  give(account, path);
  std::cout << "DKIM key made: " << path << " (" << dkim::algorithm_name(alg)
            << (alg == dkim::Algorithm::kRsaSha256 ? ", 2048 bits" : "") << ", mode 0600)\n";
  return Status::ok();
}

int fail(const std::string& what) {
  std::cerr << "hato: " << what << "\n";
  return kExitFailed;
}

// Lower case without the final dot; then the names checked and the defaults filled in.
std::optional<int> check_names(Options& o) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  o.domain = lower(o.domain);
  if (o.domain.empty()) return usage("--domain is required");
  // The configuration's own check: a name init accepts is one `config check` accepts.
  if (!conf::is_domain_name(o.domain) || o.domain.find('.') == std::string::npos)
    return usage("--domain: '" + o.domain + "' is no domain name");
  o.hostname = o.hostname.empty() ? "mail." + o.domain : lower(o.hostname);
  if (!conf::is_domain_name(o.hostname))
    return usage("--hostname: '" + o.hostname + "' is no host name");
  if (o.login.empty() || o.login.find_first_of(": \t\r\n") != std::string::npos)
    return usage("--login: '" + o.login + "' is no user name");
  if (o.data_dir.empty()) return usage("--data-dir needs a directory");
  return std::nullopt;
}

// Reads and checks the options into `o`; an exit status when there is nothing more to do
// (--help, a usage error).
std::optional<int> parse_options(const std::vector<std::string>& args, Options& o) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kInitUsage;
      return kExitOk;
    }
    if (flag == "--mx" || flag == "--force") {
      (flag == "--mx" ? o.mx : o.force) = true;
      continue;
    }
    std::string value;
    if (!take_option_value(args, i, flag, value)) return usage(flag + " needs a value");
    if (flag == "--domain") {
      o.domain = value;
    } else if (flag == "--hostname") {
      o.hostname = value;
    } else if (flag == "--public-ip") {
      auto address = SocketAddress::parse(value, 0);
      if (!address || address->port() != 0)
        return usage("--public-ip: '" + value + "' is no address");
      o.public_ips.push_back(address->ip());
    } else if (flag == "--acme-email") {
      size_t at = value.find('@');
      if (at == std::string::npos || at == 0 || !conf::is_domain_name(value.substr(at + 1)))
        return usage("--acme-email: '" + value + "' is no mail address");
      o.acme_email = value;
    } else if (flag == "--smarthost") {
      auto url = parse_smarthost(value);
      if (!url) return usage(url.message());
      o.smarthost = *url;
    } else if (flag == "--data-dir" || flag == "--login") {
      (flag == "--data-dir" ? o.data_dir : o.login) = value;
    } else {
      return usage("unknown option " + flag);
    }
  }
  return check_names(o);
}

// Where the files go, all absolute: the daemon's working directory is not this one.
Result<Paths> make_paths(const std::string& config_path, Options& o) {
  std::error_code ec;
  Paths p;
  p.config = std::filesystem::absolute(config_path.empty() ? kDefaultConfig : config_path, ec)
                 .lexically_normal()
                 .string();
  if (ec) return Status::error("cannot resolve " + config_path + ": " + ec.message());
  o.data_dir = std::filesystem::absolute(o.data_dir, ec).lexically_normal().string();
  if (ec) return Status::error("cannot resolve --data-dir: " + ec.message());
  p.dir = std::filesystem::path(p.config).parent_path().string();
  p.users = p.dir + "/users";
  p.dkim_dir = p.dir + "/dkim";
  p.rsa_key = p.dkim_dir + "/" + o.domain + ".s1.pem";
  p.ed_key = p.dkim_dir + "/" + o.domain + ".e1.pem";
  p.cert = p.dir + "/tls/cert.pem";
  p.key = p.dir + "/tls/key.pem";
  p.smarthost_password = p.dir + "/smarthost.pw";
  return p;
}

// The keys, the certificate and the smarthost password: what the config names and must exist.
Status make_key_files(const Options& o, const Paths& p, const std::optional<passwd>& account) {
  std::error_code ec;
  std::filesystem::create_directories(p.dir, ec);  // not make_dir: /etc/hato keeps its mode
  if (ec) return Status::error("cannot create " + p.dir + ": " + ec.message());
  if (auto s = make_dir(p.dkim_dir, 0700); !s) return s;
  give(account, p.dkim_dir);
  if (auto s = ensure_dkim_key(p.rsa_key, o, "s1", dkim::Algorithm::kRsaSha256, account); !s)
    return s;
  if (auto s = ensure_dkim_key(p.ed_key, o, "e1", dkim::Algorithm::kEd25519Sha256, account); !s)
    return s;
  struct stat st;
  if (o.acme_email.empty()) {
    if (::lstat(p.cert.c_str(), &st) == 0 && ::lstat(p.key.c_str(), &st) == 0) {
      std::cout << "TLS certificate kept: " << p.cert << "\n";
    } else {
      if (auto s = make_dir(p.dir + "/tls", 0700); !s) return s;
      give(account, p.dir + "/tls");
      if (auto s = net::generate_self_signed(p.cert, p.key, o.hostname); !s) return s;
      give(account, p.key);
      std::cout << "TLS certificate made: " << p.cert << " (self-signed for " << o.hostname
                << "; replace it, or use --acme-email)\n";
    }
  }
  if (o.smarthost && !o.smarthost->username.empty()) {
    if (auto s = write_file_atomically(p.smarthost_password, o.smarthost->password + "\n", 0600);
        !s)
      return s;
    give(account, p.smarthost_password);
  }
  return Status::ok();
}

// The first submission login, as `hato user add` makes one; its password.
Result<std::string> make_login(const Options& o, const Paths& p,
                               const std::optional<passwd>& account) {
  std::string password = policy::random_password();
  if (password.empty()) return Status::error("cannot read /dev/urandom for a password");
  auto hash = policy::hash_password(password);
  if (!hash) return hash.status();
  if (auto s = policy::write_user(p.users, o.login, *hash); !s) return s;
  give(account, p.users);
  return password;
}

// After the records: what `dns records` cannot know, and the next command.
void print_next(const Options& o, const Paths& p) {
  std::cout << "\n; Not from `hato dns records`, also needed: the host's address";
  if (o.public_ips.empty()) {
    std::cout << " records,\n; " << o.hostname << ". IN A <this host's address>\n";
  } else {
    std::cout << " records\n; and, at the provider of each address, its PTR naming " << o.hostname
              << ":\n";
    for (const auto& ip : o.public_ips) {
      std::cout << "; " << o.hostname << ". IN "
                << (ip.find(':') == std::string::npos ? "A" : "AAAA") << " " << ip << "\n";
    }
  }
  if (!o.acme_email.empty())
    std::cout << "; mta-sts." << o.domain << ". IN CNAME " << o.hostname << ".\n";
  if (!o.mx) {
    std::cout << "; Without --mx this host takes no mail on port 25: if another server receives\n"
              << "; mail for " << o.domain << ", keep its MX record instead of the one above.\n";
  }
  // Without -c the commands read ./hato.yaml before /etc/hato/hato.yaml: name the file
  // unless that search finds this one.
  std::error_code ec;
  std::string found = conf::find_config_file("");
  bool default_path =
      !found.empty() && std::filesystem::absolute(found, ec).lexically_normal() == p.config;
  std::cout << "\nNext: once the records are published, check them with\n"
            << "  hato dns check" << (default_path ? "" : " -c " + p.config) << "\n"
            << std::flush;
}

}  // namespace

int init_command(const std::vector<std::string>& args, const std::string& config_path) {
  Options o;
  if (auto done = parse_options(args, o)) return *done;
  auto paths = make_paths(config_path, o);
  if (!paths) return fail(paths.message());
  const Paths& p = *paths;
  struct stat st;
  if (::lstat(p.config.c_str(), &st) == 0 && !o.force) {
    std::cerr << "hato: " << p.config << " exists; not overwriting it (--force replaces it)\n";
    return kExitFailed;
  }

  // The config last: it names the other files, and a failure before it can be run again.
  std::optional<passwd> account = service_account();
  if (auto s = make_key_files(o, p, account); !s) return fail(s.message());
  auto password = make_login(o, p, account);
  if (!password) return fail(password.message());
  if (auto s = write_file_atomically(p.config, make_yaml(o, p, account.has_value()), 0644); !s)
    return fail(s.message());
  std::cout << "Configuration written: " << p.config << "\n";
  if (account) {
    std::cout << "Keys, users file and smarthost password given to user " << kServiceUser
              << " (the unit runs hato serve as " << kServiceUser << ")\n";
  }

  auto loaded = conf::load_file(p.config);
  for (const auto& e : loaded.errors) std::cerr << e << "\n";
  if (!loaded.ok())
    return fail("the configuration just written does not load (a bug in hato init)");

  std::cout << "\nSubmission login (shown once; `hato user add " << o.login
            << "` sets another password):\n"
            << "  user: " << o.login << "\n  password: " << *password << "\n"
            << "  server: " << o.hostname << " port 587 (STARTTLS) or 465 (TLS)\n\n"
            << "Publish these records in the zone of " << o.domain << ":\n\n"
            << std::flush;
  // `hato dns records` itself, on the file as it was read back.
  int status = dns_command({"records", "--domain", o.domain}, *loaded.config);
  print_next(o, p);
  return status;
}

}  // namespace hato::cli
