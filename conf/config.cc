// config.cc - hato.yaml into an immutable Config: loading, the embedded default, lookups.
//
// The Builder (config_builder.h) walks the document once, key by key, and records every
// problem at the node that caused it (see yaml_reader.h); a Config is handed out only when
// there were none. Keys of INTERFACE.md that later work implements are accepted and skipped.
// Which receiver knowledge is built in (providers, replies that mean "slow down") is
// policy/limiter.cc's; here only what the file says is read and checked.
#include "conf/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"
#include "conf/config_builder.h"
#include "conf/yaml_reader.h"

namespace hato::conf {

using detail::Builder;
using detail::join_path;

namespace {

constexpr char kEmbeddedSource[] = "<embedded default>";

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
