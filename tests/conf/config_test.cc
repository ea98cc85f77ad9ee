// config_test.cc - loading hato.yaml: values, defaults, and each problem at its exact position.
#define BOOST_TEST_MODULE conf
#include <boost/test/unit_test.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "conf/config.h"
#include "tests/temp_dir.h"

namespace hato::conf {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// A listener block that makes a config otherwise empty valid.
const std::string kListener = "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n";

LoadResult load(const std::string& yaml) {
  return load_string(yaml, "t.yaml");
}

// The errors of a config that must not load.
std::vector<std::string> errors_of(const std::string& yaml) {
  LoadResult result = load(yaml);
  BOOST_TEST(!result.ok());
  BOOST_TEST(result.config == nullptr);
  return result.errors;
}

// The single error of a config with exactly one problem.
std::string error_of(const std::string& yaml) {
  auto errors = errors_of(yaml);
  BOOST_TEST_REQUIRE(errors.size() == 1u, "errors: " << errors.size());
  return errors[0];
}

ConfigPtr loaded(const std::string& yaml) {
  LoadResult result = load(yaml);
  for (const auto& e : result.errors) BOOST_TEST_MESSAGE(e);
  BOOST_TEST_REQUIRE(result.ok());
  return result.config;
}

// A fresh directory for files that configs name, removed afterwards.
struct TempDir : hato::testing::TempDir {
  std::string file(const std::string& name, const std::string& content = "x\n") const {
    std::string full = *this / name;
    std::ofstream(full) << content;
    return full;
  }
};

// Runs a test body in another working directory, restoring the old one.
struct ChangeDir {
  std::filesystem::path old = std::filesystem::current_path();
  explicit ChangeDir(const std::string& dir) { std::filesystem::current_path(dir); }
  ~ChangeDir() { std::filesystem::current_path(old); }
};

BOOST_AUTO_TEST_CASE(full_config_loads_with_its_values) {
  TempDir dir;
  std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  std::string dkim_rsa = dir.file("s1.pem"), dkim_ed = dir.file("e1.pem");
  std::string password = dir.file("smarthost.pw");
  std::string yaml =
      "hostname: relay.example.test\n"
      "data_dir: " +
      dir.path +
      "/data\n"
      "users_file: /etc/hato/users\n"
      "admin:\n"
      "  socket: /run/hato/admin.sock\n"
      "  metrics: 127.0.0.1:9025\n"
      "log: {format: json}\n"
      "tls:\n"
      "  certificate: " +
      cert +
      "\n"
      "  key: " +
      key +
      "\n"
      "  acme: {email: postmaster@example.test, domains: [relay.example.test]}\n"
      "mta_sts: {listen: \"0.0.0.0:443\", mode: testing}\n"
      "listeners:\n"
      "  - {name: submission, address: \"0.0.0.0:587\", role: submission,\n"
      "     trusted_networks: [\"127.0.0.0/8\", \"2001:db8::/32\"]}\n"
      "  - {name: submissions, address: \"[::1]:465\", role: submission, tls: implicit}\n"
      "  - {name: mx, address: \"0.0.0.0:25\", role: inbound, tls: none}\n"
      "domains:\n"
      "  - name: Example.TEST\n"
      "    dkim:\n"
      "      - {selector: s1, algorithm: rsa-sha256, key: " +
      dkim_rsa +
      "}\n"
      "      - {selector: e1, algorithm: ed25519-sha256, key: " +
      dkim_ed +
      "}\n"
      "    mailboxes: [Support, info]\n"
      "    aliases: {PostMaster: SUPPORT}\n"
      "  - name: other.test\n"
      "dns:\n"
      "  servers: [\"127.0.0.1:53\", \"192.0.2.1\", \"[::1]:5353\"]\n"
      "delivery:\n"
      "  port: 2525\n"
      "  smarthost: {host: smtp.provider.test, port: 465, tls: implicit,\n"
      "              username: u, password_file: " +
      password +
      "}\n"
      "  tls: required\n"
      "  retry: {first: 1m, max_interval: 2h, max_age: 3d, delay_warning: 30m}\n"
      "limits:\n"
      "  max_message_size: 10MiB\n"
      "  max_recipients: 100\n"
      "  max_errors: 5\n"
      "  command_timeout: 30s\n"
      "  data_timeout: 250ms\n"
      "  max_connections: 50\n"
      "allowed_senders:\n"
      "  alice: [alice@example.test, \"@Other.Test\"]\n"
      "egress:\n"
      "  - {address: 192.0.2.10, helo: mail1.example.test, weight: 1}\n"
      "shaping: {providers: [{name: google, rate: 20/s}]}\n"
      "inbound: {dmarc: enforce}\n"
      "cluster: {redis: \"redis://127.0.0.1:6379\", node: node1}\n"
      "blacklist_monitor: {interval: 15m, zones: [zen.spamhaus.org]}\n";
  ConfigPtr c = loaded(yaml);

  BOOST_TEST(c->source == "t.yaml");
  BOOST_TEST(c->hostname == "relay.example.test");
  BOOST_TEST(c->data_dir == dir.path + "/data");
  BOOST_TEST(c->users_file == "/etc/hato/users");
  BOOST_TEST(c->admin.socket == "/run/hato/admin.sock");
  BOOST_TEST_REQUIRE(c->admin.metrics.has_value());
  BOOST_TEST(c->admin.metrics->to_string() == "127.0.0.1:9025");
  BOOST_TEST((c->log_format == LogFormat::kJson));
  BOOST_TEST(c->tls.certificate == cert);
  BOOST_TEST(c->tls.key == key);

  BOOST_TEST_REQUIRE(c->listeners.size() == 3u);
  const Listener& sub = c->listeners[0];
  BOOST_TEST(sub.name == "submission");
  BOOST_TEST(sub.address.to_string() == "0.0.0.0:587");
  BOOST_TEST((sub.role == ListenerRole::kSubmission));
  BOOST_TEST((sub.tls == ListenerTls::kStartTls));
  BOOST_TEST_REQUIRE(sub.trusted_networks.size() == 2u);
  BOOST_TEST(sub.trusted_networks[0].prefix == 8);
  BOOST_TEST(sub.trusted_networks[1].prefix == 32);
  BOOST_TEST(sub.trusted_networks[0].contains(SocketAddress::parse("127.1.2.3:1").value()));
  BOOST_TEST(c->listeners[1].address.to_string() == "[::1]:465");
  BOOST_TEST((c->listeners[1].tls == ListenerTls::kImplicit));
  BOOST_TEST((c->listeners[2].role == ListenerRole::kInbound));
  BOOST_TEST((c->listeners[2].tls == ListenerTls::kNone));

  BOOST_TEST_REQUIRE(c->domains.size() == 2u);
  const Domain& d = c->domains[0];
  BOOST_TEST(d.name == "example.test");
  BOOST_TEST_REQUIRE(d.dkim.size() == 2u);
  BOOST_TEST(d.dkim[0].selector == "s1");
  BOOST_TEST(d.dkim[0].algorithm == "rsa-sha256");
  BOOST_TEST(d.dkim[0].key_file == dkim_rsa);
  BOOST_TEST(d.dkim[1].selector == "e1");
  BOOST_TEST(d.dkim[1].algorithm == "ed25519-sha256");
  BOOST_TEST(d.mailboxes == (std::vector<std::string>{"support", "info"}));
  BOOST_TEST(d.aliases.size() == 1u);
  BOOST_TEST(d.aliases.at("postmaster") == "support");
  BOOST_TEST(c->domains[1].name == "other.test");
  BOOST_TEST(c->domains[1].mailboxes.empty());

  BOOST_TEST_REQUIRE(c->dns_servers.size() == 3u);
  BOOST_TEST(c->dns_servers[0].to_string() == "127.0.0.1:53");
  BOOST_TEST(c->dns_servers[1].to_string() == "192.0.2.1:53");
  BOOST_TEST(c->dns_servers[2].to_string() == "[::1]:5353");

  BOOST_TEST(c->delivery.port == 2525);
  BOOST_TEST_REQUIRE(c->delivery.smarthost.has_value());
  BOOST_TEST(c->delivery.smarthost->host == "smtp.provider.test");
  BOOST_TEST(c->delivery.smarthost->port == 465);
  BOOST_TEST(c->delivery.smarthost->tls == "implicit");
  BOOST_TEST(c->delivery.smarthost->username == "u");
  BOOST_TEST(c->delivery.smarthost->password_file == password);
  BOOST_TEST(c->delivery.tls == "required");
  BOOST_TEST((c->delivery.retry.first == minutes(1)));
  BOOST_TEST((c->delivery.retry.max_interval == hours(2)));
  BOOST_TEST((c->delivery.retry.max_age == hours(72)));
  BOOST_TEST((c->delivery.retry.delay_warning == minutes(30)));

  BOOST_TEST(c->limits.max_message_size == 10u * 1024 * 1024);
  BOOST_TEST(c->limits.max_recipients == 100u);
  BOOST_TEST(c->limits.max_errors == 5u);
  BOOST_TEST((c->limits.command_timeout == seconds(30)));
  BOOST_TEST((c->limits.data_timeout == milliseconds(250)));
  BOOST_TEST(c->limits.max_connections == 50u);

  BOOST_TEST(c->allowed_senders.size() == 1u);
  BOOST_TEST(c->allowed_senders.at("alice") ==
             (std::vector<std::string>{"alice@example.test", "@other.test"}));
}

BOOST_AUTO_TEST_CASE(absent_keys_take_their_defaults) {
  ConfigPtr c = loaded(kListener);
  char host[HOST_NAME_MAX + 1] = "";
  BOOST_TEST_REQUIRE(gethostname(host, sizeof host) == 0);
  BOOST_TEST(c->hostname == std::string(host));
  BOOST_TEST(c->data_dir == "/var/lib/hato");
  BOOST_TEST(c->users_file == "/var/lib/hato/users");
  BOOST_TEST(c->admin.socket == "/var/lib/hato/admin.sock");
  BOOST_TEST(!c->admin.metrics.has_value());
  BOOST_TEST((c->log_format == LogFormat::kText));
  BOOST_TEST(c->tls.certificate.empty());
  BOOST_TEST(c->domains.empty());
  BOOST_TEST(c->dns_servers.empty());
  BOOST_TEST(c->delivery.port == 25);
  BOOST_TEST(!c->delivery.smarthost.has_value());
  BOOST_TEST(c->delivery.tls == "opportunistic");
  BOOST_TEST((c->delivery.retry.max_age == hours(120)));
  BOOST_TEST(c->limits.max_message_size == 50u * 1024 * 1024);
  BOOST_TEST((c->limits.command_timeout == minutes(5)));
  BOOST_TEST(c->allowed_senders.empty());
}

BOOST_AUTO_TEST_CASE(paths_default_below_data_dir_and_relative_ones_stay_relative) {
  ConfigPtr c = loaded("data_dir: hato-data\n" + kListener);
  BOOST_TEST(c->data_dir == "hato-data");
  BOOST_TEST(c->users_file == "hato-data/users");
  BOOST_TEST(c->admin.socket == "hato-data/admin.sock");

  c = loaded("data_dir: /srv/hato/\nusers_file: my-users\n" + kListener);
  BOOST_TEST(c->users_file == "my-users");
  BOOST_TEST(c->admin.socket == "/srv/hato/admin.sock");
}

BOOST_AUTO_TEST_CASE(users_file_need_not_exist) {
  TempDir dir;
  ConfigPtr c = loaded("users_file: " + dir.path + "/not-yet\n" + kListener);
  BOOST_TEST(c->users_file == dir.path + "/not-yet");
}

BOOST_AUTO_TEST_CASE(yaml_syntax_error_has_its_position) {
  BOOST_TEST(error_of("hostname: a\nlisteners: [a,\nb: 2\n") ==
             "t.yaml:4:1: YAML syntax error: end of sequence flow not found");
  BOOST_TEST(error_of("hostname: a\n  data_dir: b\n") ==
             "t.yaml:2:11: YAML syntax error: illegal map value");
}

BOOST_AUTO_TEST_CASE(unknown_key_suggests_the_closest_known_one) {
  BOOST_TEST(error_of("hostnam: a\n" + kListener) ==
             "t.yaml:1:1: unknown key 'hostnam', did you mean 'hostname'?");
  BOOST_TEST(error_of("Hostname: a\n" + kListener) ==
             "t.yaml:1:1: unknown key 'Hostname', did you mean 'hostname'?");
  // An adjacent transposition is one slip.
  BOOST_TEST(error_of(kListener + "dsn: {}\n") ==
             "t.yaml:2:1: unknown key 'dsn', did you mean 'dns'?");
  // Keys accepted for later work are suggested too.
  BOOST_TEST(error_of(kListener + "inbond: {}\n") ==
             "t.yaml:2:1: unknown key 'inbond', did you mean 'inbound'?");
  BOOST_TEST(error_of(kListener + "frobnicate: 1\n") == "t.yaml:2:1: unknown key 'frobnicate'");
  BOOST_TEST(error_of("listeners:\n  - name: mx\n    adress: \"127.0.0.1:25\"\n"
                      "    address: \"127.0.0.1:25\"\n    role: inbound\n") ==
             "t.yaml:3:5: listeners[0]: unknown key 'adress', did you mean 'address'?");
  BOOST_TEST(error_of(kListener + "limits: {max_recipient: 5}\n") ==
             "t.yaml:2:10: limits: unknown key 'max_recipient', did you mean 'max_recipients'?");
  BOOST_TEST(error_of(kListener + "tls: {acme: {}, cert: x}\n") ==
             "t.yaml:2:17: tls: unknown key 'cert'");
}

BOOST_AUTO_TEST_CASE(duplicate_yaml_key_is_reported_at_the_second) {
  BOOST_TEST(error_of("hostname: a\n" + kListener + "hostname: b\n") ==
             "t.yaml:3:1: duplicate key 'hostname' (first at line 1)");
}

BOOST_AUTO_TEST_CASE(wrong_types_are_reported_at_the_value) {
  BOOST_TEST(error_of(kListener + "admin: [a]\n") ==
             "t.yaml:2:8: admin: expected a map, got a list");
  BOOST_TEST(error_of(kListener + "admin: sock\n") ==
             "t.yaml:2:8: admin: expected a map, got 'sock'");
  BOOST_TEST(error_of("listeners: {name: mx}\n") ==
             "t.yaml:1:12: listeners: expected a list, got a map");
  BOOST_TEST(error_of(kListener + "hostname: [a]\n") ==
             "t.yaml:2:11: hostname: expected a string, got a list");
  // An empty value is reported at its key, not at the next line where yaml-cpp puts it.
  BOOST_TEST(error_of(kListener + "hostname:\n\n\ndata_dir: x\n") ==
             "t.yaml:2:1: hostname: expected a string, got nothing");
  BOOST_TEST(error_of(kListener + "limits: {max_recipients: many}\n") ==
             "t.yaml:2:26: limits.max_recipients: expected a number, got 'many'");
  BOOST_TEST(error_of(kListener + "limits: {max_errors: {a: 1}}\n") ==
             "t.yaml:2:22: limits.max_errors: expected a number, got a map");
  BOOST_TEST(error_of(kListener + "delivery: {port: 0}\n") ==
             "t.yaml:2:18: delivery.port: 0 is out of range (1 to 65535)");
  BOOST_TEST(error_of(kListener + "limits: {max_connections: 99999999999}\n") ==
             "t.yaml:2:27: limits.max_connections: 99999999999 is out of range (1 to 4294967295)");
  BOOST_TEST(error_of("listeners: [mx]\n") ==
             "t.yaml:1:13: listeners[0]: expected a map, got 'mx'");
  BOOST_TEST(error_of("- a\n- b\n") == "t.yaml:1:1: expected a map, got a list");
}

BOOST_AUTO_TEST_CASE(bad_durations_and_sizes_are_reported_at_the_value) {
  BOOST_TEST(error_of(kListener + "limits: {data_timeout: 10x}\n") ==
             "t.yaml:2:24: limits.data_timeout: bad duration '10x': unknown unit 'x' "
             "(ms, s, m, h or d)");
  BOOST_TEST(error_of(kListener + "delivery:\n  retry:\n    max_age: 30\n") ==
             "t.yaml:4:14: delivery.retry.max_age: bad duration '30': missing unit "
             "(ms, s, m, h or d)");
  BOOST_TEST(error_of(kListener + "limits: {command_timeout: 0s}\n") ==
             "t.yaml:2:27: limits.command_timeout: duration must be greater than zero");
  BOOST_TEST(error_of(kListener + "limits: {max_message_size: 10Q}\n") ==
             "t.yaml:2:28: limits.max_message_size: bad size '10Q': unknown unit 'q' "
             "(K, M, G or T, optionally followed by B or iB)");
  BOOST_TEST(error_of(kListener + "limits: {max_message_size: 0}\n") ==
             "t.yaml:2:28: limits.max_message_size: size must be greater than zero");
}

BOOST_AUTO_TEST_CASE(bad_addresses_are_reported_at_the_value) {
  BOOST_TEST(error_of("listeners: [{name: mx, address: \"localhost:25\", role: inbound}]\n") ==
             "t.yaml:1:33: listeners[0].address: bad address 'localhost:25': 'localhost' is not "
             "a numeric IPv4 or IPv6 address");
  BOOST_TEST(error_of("listeners: [{name: mx, address: 127.0.0.1, role: inbound}]\n") ==
             "t.yaml:1:33: listeners[0].address: bad address '127.0.0.1': address needs a port "
             "(host:port)");
  BOOST_TEST(error_of(kListener + "admin: {metrics: \"127.0.0.1:http\"}\n") ==
             "t.yaml:2:18: admin.metrics: bad address '127.0.0.1:http': bad port in address");
  BOOST_TEST(error_of(kListener + "dns: {servers: [1.2.3]}\n") ==
             "t.yaml:2:17: dns.servers[0]: bad address '1.2.3': '1.2.3' is not a numeric IPv4 "
             "or IPv6 address");
  BOOST_TEST(error_of("listeners:\n  - name: mx\n    address: \"127.0.0.1:25\"\n    role: inbound\n"
                      "    trusted_networks: [10.0.0.0/8, 10.0.0.0/33]\n") ==
             "t.yaml:5:36: listeners[0].trusted_networks[1]: bad network '10.0.0.0/33': bad "
             "prefix length in '10.0.0.0/33'");
}

BOOST_AUTO_TEST_CASE(bad_enum_values_list_the_allowed_ones) {
  BOOST_TEST(error_of("listeners: [{name: mx, address: \"127.0.0.1:25\", role: relay}]\n") ==
             "t.yaml:1:55: listeners[0].role: unknown value 'relay' (expected submission, "
             "inbound or http)");
  BOOST_TEST(error_of("listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound, tls: "
                      "ssl}]\n") ==
             "t.yaml:1:69: listeners[0].tls: unknown value 'ssl' (expected starttls, implicit "
             "or none)");
  BOOST_TEST(error_of(kListener + "log:\n  format: xml\n") ==
             "t.yaml:3:11: log.format: unknown value 'xml' (expected text or json)");
  BOOST_TEST(error_of(kListener + "delivery: {tls: always}\n") ==
             "t.yaml:2:17: delivery.tls: unknown value 'always' (expected opportunistic or "
             "required)");
}

BOOST_AUTO_TEST_CASE(duplicate_listener_names_and_domains) {
  BOOST_TEST(error_of("listeners:\n"
                      "  - {name: mx, address: \"127.0.0.1:25\", role: inbound}\n"
                      "  - {name: mx, address: \"127.0.0.1:26\", role: inbound}\n") ==
             "t.yaml:3:12: listeners[1].name: duplicate listener name 'mx' (first at line 2)");
  BOOST_TEST(error_of(kListener + "domains:\n  - name: example.test\n  - name: Example.Test\n") ==
             "t.yaml:4:11: domains[1].name: duplicate domain 'example.test' (first at line 3)");
}

BOOST_AUTO_TEST_CASE(missing_required_keys_are_reported_at_their_map) {
  BOOST_TEST(error_of("listeners:\n  - name: mx\n    role: inbound\n") ==
             "t.yaml:2:5: listeners[0]: missing required key 'address'");
  BOOST_TEST(error_of(kListener + "domains: [{mailboxes: [a]}]\n") ==
             "t.yaml:2:11: domains[0]: missing required key 'name'");
  BOOST_TEST(error_of(kListener + "delivery: {smarthost: {port: 25}}\n") ==
             "t.yaml:2:23: delivery.smarthost: missing required key 'host'");
}

BOOST_AUTO_TEST_CASE(at_least_one_listener_is_required) {
  BOOST_TEST(error_of("") == "t.yaml:1:1: missing required key 'listeners'");
  BOOST_TEST(error_of("# nothing\n\nhostname: a\n") ==
             "t.yaml:3:1: missing required key 'listeners'");
  BOOST_TEST(error_of("listeners: []\n") ==
             "t.yaml:1:12: listeners: at least one listener is required");
  BOOST_TEST(error_of("listeners:\n") ==
             "t.yaml:1:1: listeners: at least one listener is required");
}

BOOST_AUTO_TEST_CASE(named_files_must_exist) {
  TempDir dir;
  std::string cert = dir.file("cert.pem");
  std::string missing = dir.path + "/missing.pem";
  BOOST_TEST(error_of(kListener + "tls:\n  certificate: " + cert + "\n  key: " + missing + "\n") ==
             "t.yaml:4:8: tls.key: file not found: " + missing);
  BOOST_TEST(error_of(kListener +
                      "domains:\n  - name: example.test\n    dkim:\n"
                      "      - selector: s1\n        key: " +
                      missing + "\n") ==
             "t.yaml:6:14: domains[0].dkim[0].key: file not found: " + missing);
  BOOST_TEST(error_of(kListener +
                      "delivery:\n  smarthost:\n    host: 192.0.2.1\n"
                      "    username: u\n    password_file: " +
                      missing + "\n") ==
             "t.yaml:6:20: delivery.smarthost.password_file: file not found: " + missing);
  BOOST_TEST(error_of(kListener + "tls: {certificate: " + dir.path + ", key: " + cert + "}\n") ==
             "t.yaml:2:20: tls.certificate: " + dir.path + " is a directory, not a file");
}

BOOST_AUTO_TEST_CASE(pairs_must_be_given_together) {
  TempDir dir;
  std::string cert = dir.file("cert.pem");
  BOOST_TEST(error_of(kListener + "tls:\n  certificate: " + cert + "\n") ==
             "t.yaml:3:3: tls: certificate and key must be given together");
  BOOST_TEST(
      error_of(kListener + "delivery: {smarthost: {host: smtp.example.test, username: u}}\n") ==
      "t.yaml:2:23: delivery.smarthost: username and password_file must be given together");
  // With acme instead, neither is needed: Hato writes them under <data_dir>/acme/.
  ConfigPtr acme = loaded("data_dir: /d\n" + kListener + "tls: {acme: {email: a@b.test}}\n");
  BOOST_TEST(acme->tls.certificate == "/d/acme/cert.pem");
  BOOST_TEST(acme->tls.key == "/d/acme/key.pem");
}

BOOST_AUTO_TEST_CASE(names_are_lower_cased_and_checked) {
  ConfigPtr c =
      loaded(kListener +
             "domains:\n"
             "  - {name: MiXeD.Example, mailboxes: [Bob, alice], aliases: {ADMIN: bob}}\n");
  BOOST_TEST(c->domains[0].name == "mixed.example");
  BOOST_TEST(c->domains[0].mailboxes == (std::vector<std::string>{"bob", "alice"}));
  BOOST_TEST(c->domains[0].aliases.at("admin") == "bob");

  BOOST_TEST(error_of(kListener + "domains: [{name: \"bad_domain.test\"}]\n") ==
             "t.yaml:2:18: domains[0].name: 'bad_domain.test' is not a valid domain name");
  BOOST_TEST(error_of(kListener + "domains: [{name: a.test, mailboxes: [\"a b\"]}]\n") ==
             "t.yaml:2:38: domains[0].mailboxes[0]: 'a b' is not a valid mailbox name");
  BOOST_TEST(error_of(kListener + "domains: [{name: a.test, mailboxes: [x, X]}]\n") ==
             "t.yaml:2:41: domains[0].mailboxes[1]: duplicate mailbox 'x' (first at line 2)");
  BOOST_TEST(error_of(kListener + "hostname: \"relay example\"\n") ==
             "t.yaml:2:11: hostname: 'relay example' is not a valid host name");
}

BOOST_AUTO_TEST_CASE(aliases_point_at_mailboxes_of_their_domain) {
  // Aliases come first in the file, yet are checked against the mailboxes below them.
  BOOST_TEST(error_of(kListener + "domains:\n  - name: a.test\n    aliases: {postmaster: nobody}\n"
                                  "    mailboxes: [support]\n") ==
             "t.yaml:4:27: domains[0].aliases.postmaster: 'nobody' is not a mailbox of a.test");
  BOOST_TEST(error_of(kListener + "domains:\n  - name: a.test\n    mailboxes: [support]\n"
                                  "    aliases: {Support: support}\n") ==
             "t.yaml:5:15: domains[0].aliases: 'support' is both a mailbox and an alias");
}

BOOST_AUTO_TEST_CASE(allowed_senders_are_addresses_or_domains) {
  BOOST_TEST(error_of(kListener + "allowed_senders: {bob: [bob]}\n") ==
             "t.yaml:2:25: allowed_senders.bob[0]: expected 'user@domain' or '@domain', got 'bob'");
  BOOST_TEST(error_of(kListener + "allowed_senders: {bob: \"@a.test\"}\n") ==
             "t.yaml:2:24: allowed_senders.bob: expected a list, got '@a.test'");
}

BOOST_AUTO_TEST_CASE(every_section_is_checked) {
  ConfigPtr c =
      loaded(kListener + "inbound: {dnsbl: [{zone: zen.spamhaus.org, action: reject}]}\n");
  BOOST_TEST(c->listeners.size() == 1u);
  // No section is a placeholder any more: blacklist_monitor, cluster and mta_sts have their
  // keys checked like any other section's.
  std::string error = error_of(kListener + "blacklist_monitor: {unknown_to_us: 1}\n");
  BOOST_TEST(error.find("unknown_to_us") != std::string::npos, error);
  error = error_of(kListener + "cluster: 42\n");
  BOOST_TEST(error.find("cluster") != std::string::npos, error);
  error = error_of(kListener + "mta_sts: [whatever]\n");
  BOOST_TEST(error.find("mta_sts") != std::string::npos, error);
}

BOOST_AUTO_TEST_CASE(acme_and_mta_sts_hosting_load_with_defaults) {
  ConfigPtr c = loaded("hostname: relay.example.test\n" + kListener +
                       "tls: {acme: {email: a@b.test, http: \"127.0.0.1:8080\", renew_before: "
                       "30d}}\n"
                       "mta_sts: {listen: \"127.0.0.1:8443\", mode: enforce, max_age: 2d}\n"
                       "domains: [{name: a.test}, {name: b.test}]\n");
  BOOST_TEST_REQUIRE(c->tls.acme.has_value());
  BOOST_TEST(c->tls.acme->directory == "https://acme-v02.api.letsencrypt.org/directory");
  BOOST_TEST(c->tls.acme->http->to_string() == "127.0.0.1:8080");
  BOOST_TEST(c->tls.acme->domains == (std::vector<std::string>{"relay.example.test",
                                                               "mta-sts.a.test", "mta-sts.b.test"}),
             boost::test_tools::per_element());
  BOOST_TEST(std::chrono::duration_cast<std::chrono::hours>(c->tls.acme->renew_before).count() ==
             720);
  BOOST_TEST(c->mta_sts.listen->to_string() == "127.0.0.1:8443");
  BOOST_TEST(c->mta_sts.mode == "enforce");
  BOOST_TEST(c->mta_sts.max_age == 172800);
  BOOST_TEST(c->mta_sts.mx == std::vector<std::string>{"relay.example.test"},
             boost::test_tools::per_element());
  BOOST_TEST(error_of(kListener + "mta_sts: {mode: strict}\n").find("unknown value 'strict'") !=
             std::string::npos);
  BOOST_TEST(error_of(kListener + "tls: {acme: {directory: \"http://ca.test/dir\"}}\n")
                 .find("must be an https:// URL") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(egress_and_shaping_load_with_their_values) {
  ConfigPtr c =
      loaded("hostname: relay.example.test\n" + kListener +
             "egress:\n"
             "  - address: 192.0.2.10\n"
             "    helo: mail1.example.test\n"
             "    weight: 3\n"
             "    warmup: {start: 2026-11-01, daily: [50, 100, 250], per_provider: true}\n"
             "  - {address: \"192.0.2.11\"}\n"
             "  - {address: \"2001:db8::1\", warmup: {start: 1970-01-02}}\n"
             "shaping:\n"
             "  suspend_on:\n"  // before the provider it names: order does not matter
             "    - {reply: \"4\\\\.7\\\\.28\", provider: fastmail, for: 2h}\n"
             "    - {reply: try later, rate: 1/m, for: 10m}\n"
             "  providers:\n"
             "    - {name: google, connections: 3}\n"
             "    - {name: Fastmail, mx_suffix: [.messagingengine.com., Fastmail.COM],\n"
             "       connections: 2, messages_per_connection: 50, rate: 100/m}\n"
             "  default: {connections: 8, rate: 3600/h}\n");
  BOOST_TEST_REQUIRE(c->egress.size() == 3u);
  const Egress& first = c->egress[0];
  BOOST_TEST(first.address.ip() == "192.0.2.10");
  BOOST_TEST(first.address.port() == 0);
  BOOST_TEST(first.helo == "mail1.example.test");
  BOOST_TEST(first.weight == 3u);
  BOOST_TEST_REQUIRE(first.warmup.has_value());
  BOOST_TEST(first.warmup->start_day == 20758);  // 2026-11-01
  BOOST_TEST(first.warmup->daily == (std::vector<uint64_t>{50, 100, 250}),
             boost::test_tools::per_element());
  BOOST_TEST(first.warmup->per_provider);
  // The HELO name defaults to the hostname, the weight to 1, and there is no warm-up.
  BOOST_TEST(c->egress[1].helo == "relay.example.test");
  BOOST_TEST(c->egress[1].weight == 1u);
  BOOST_TEST(!c->egress[1].warmup.has_value());
  // Only a start: the built-in curve, shared by all providers.
  BOOST_TEST(c->egress[2].address.ip() == "2001:db8::1");
  BOOST_TEST_REQUIRE(c->egress[2].warmup.has_value());
  BOOST_TEST(c->egress[2].warmup->start_day == 1);
  BOOST_TEST(c->egress[2].warmup->daily.empty());
  BOOST_TEST(!c->egress[2].warmup->per_provider);

  const Shaping& shaping = c->shaping;
  BOOST_TEST_REQUIRE(shaping.providers.size() == 2u);
  // A built-in provider keeps what is not given (0 here, filled in by the limiter).
  BOOST_TEST(shaping.providers[0].name == "google");
  BOOST_TEST(shaping.providers[0].mx_suffix.empty());
  BOOST_TEST(shaping.providers[0].connections == 3u);
  BOOST_TEST(shaping.providers[0].messages_per_connection == 0u);
  BOOST_TEST(shaping.providers[0].rate_per_second == 0.0);
  const Provider& fastmail = shaping.providers[1];
  BOOST_TEST(fastmail.name == "fastmail");
  BOOST_TEST(
      fastmail.mx_suffix == (std::vector<std::string>{"messagingengine.com", "fastmail.com"}),
      boost::test_tools::per_element());
  BOOST_TEST(fastmail.connections == 2u);
  BOOST_TEST(fastmail.messages_per_connection == 50u);
  BOOST_TEST(fastmail.rate_per_second == 100.0 / 60.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST_REQUIRE(shaping.suspend_on.size() == 2u);
  BOOST_TEST(shaping.suspend_on[0].reply_regex == "4\\.7\\.28");
  BOOST_TEST(shaping.suspend_on[0].provider == "fastmail");
  BOOST_TEST(shaping.suspend_on[0].for_ == hours(2));
  BOOST_TEST(shaping.suspend_on[0].rate_per_second == 0.0);
  BOOST_TEST(shaping.suspend_on[1].reply_regex == "try later");
  BOOST_TEST(shaping.suspend_on[1].provider.empty());
  BOOST_TEST(shaping.suspend_on[1].for_ == minutes(10));
  BOOST_TEST(shaping.suspend_on[1].rate_per_second == 1.0 / 60.0,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(shaping.defaults.name == "default");
  BOOST_TEST(shaping.defaults.connections == 8u);
  BOOST_TEST(shaping.defaults.messages_per_connection == 0u);
  BOOST_TEST(shaping.defaults.rate_per_second == 1.0);
}

BOOST_AUTO_TEST_CASE(without_egress_there_is_no_shaping_to_configure) {
  ConfigPtr c = loaded(kListener);
  BOOST_TEST(c->egress.empty());
  BOOST_TEST(c->shaping.providers.empty());
  BOOST_TEST(c->shaping.suspend_on.empty());
  // A rule for a built-in provider needs no providers list.
  c = loaded(kListener + "shaping: {suspend_on: [{reply: \"TS0[1-4]\", provider: yahoo}]}\n");
  BOOST_TEST_REQUIRE(c->shaping.suspend_on.size() == 1u);
  BOOST_TEST(c->shaping.suspend_on[0].for_ == hours(1));
}

BOOST_AUTO_TEST_CASE(bounce_rules_and_suppression_load) {
  auto c = loaded(kListener +
                  "bounces:\n"
                  "  rules:\n"
                  "    - {match: \"5\\\\.7\\\\.1.*blocked\", provider: Microsoft, category: "
                  "reputation-block}\n"
                  "    - {dsn: \"5.7.\", category: policy}\n"
                  "suppression: {on: [invalid-recipient, mailbox-full, complaint], scope: global, "
                  "expire: 30d, at_submission: bounce}\n");
  BOOST_TEST_REQUIRE(c->bounce_rules.size() == 2u);
  BOOST_TEST(c->bounce_rules[0].match == "5\\.7\\.1.*blocked");
  BOOST_TEST(c->bounce_rules[0].provider == "microsoft");
  BOOST_TEST(c->bounce_rules[0].category == "reputation-block");
  BOOST_TEST(c->bounce_rules[1].dsn == "5.7.");
  BOOST_TEST((c->suppression.on ==
              std::vector<std::string>{"invalid-recipient", "mailbox-full", "complaint"}));
  BOOST_TEST(c->suppression.global);
  BOOST_TEST(c->suppression.expire == hours(24 * 30));
  BOOST_TEST(c->suppression.bounce_at_submission);
  // The defaults: per domain, a year, refused at RCPT.
  c = loaded(kListener);
  BOOST_TEST(c->bounce_rules.empty());
  BOOST_TEST((c->suppression.on == std::vector<std::string>{"invalid-recipient", "complaint"}));
  BOOST_TEST(!c->suppression.global);
  BOOST_TEST(c->suppression.expire == hours(24 * 365));
  BOOST_TEST(!c->suppression.bounce_at_submission);
  BOOST_TEST(loaded(kListener + "suppression: {expire: never}\n")->suppression.expire.count() == 0);
}

BOOST_AUTO_TEST_CASE(the_brake_reads_its_keys_and_refuses_bad_values) {
  auto c = loaded(kListener);
  BOOST_TEST(!c->limits.brake.enabled);
  BOOST_TEST(c->limits.brake.factor == 10.0);
  BOOST_TEST(c->limits.brake.floor == 100u);
  BOOST_TEST(c->limits.brake.bounce_rate == 0.2);
  BOOST_TEST(c->limits.brake.min_bounces == 20u);
  BOOST_TEST((c->limits.brake.action == BrakeAction::kHold));
  c = loaded(kListener +
             "limits: {brake: {enabled: true, factor: 20, floor: 300, bounce_rate: 0.1, "
             "min_bounces: 50, action: refuse}}\n");
  BOOST_TEST(c->limits.brake.enabled);
  BOOST_TEST(c->limits.brake.factor == 20.0);
  BOOST_TEST(c->limits.brake.floor == 300u);
  BOOST_TEST(c->limits.brake.bounce_rate == 0.1);
  BOOST_TEST(c->limits.brake.min_bounces == 50u);
  BOOST_TEST((c->limits.brake.action == BrakeAction::kRefuse));
  BOOST_TEST(c->limits.brake.complaint_rate == 0.003);
  BOOST_TEST(c->limits.brake.min_complaints == 5u);
  // As INTERFACE.md writes it: the section turns the brake on, the floor is a rate an hour.
  c = loaded(kListener +
             "limits: {brake: {factor: 10, floor: 200/h, action: hold, complaint_rate: 0.001, "
             "min_complaints: 3}}\n");
  BOOST_TEST(c->limits.brake.enabled);
  BOOST_TEST(c->limits.brake.floor == 200u);
  BOOST_TEST(c->limits.brake.complaint_rate == 0.001);
  BOOST_TEST(c->limits.brake.min_complaints == 3u);
  BOOST_TEST(!loaded(kListener + "limits: {brake: off}\n")->limits.brake.enabled);
  BOOST_TEST(loaded(kListener + "limits: {brake: on}\n")->limits.brake.enabled);
  BOOST_TEST(
      !loaded(kListener + "limits: {brake: {enabled: false, factor: 5}}\n")->limits.brake.enabled);
  auto errors = errors_of(kListener +
                          "limits: {brake: {factor: 0.5, bounce_rate: 20%, action: stop, "
                          "enable: true, floor: 200/m}}\n");
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  BOOST_TEST(errors.size() == 5u, all);
  BOOST_TEST(all.find("limits.brake.floor is messages an hour, such as 200 or 200/h, not "
                      "'200/m'") != std::string::npos,
             all);
  BOOST_TEST(
      all.find("limits.brake.factor: '0.5' is not a number from 1 to 1e+06") != std::string::npos,
      all);
  BOOST_TEST(all.find("'20%' is not a number from 0 to 1") != std::string::npos, all);
  BOOST_TEST(all.find("limits.brake.action: unknown value 'stop'") != std::string::npos, all);
  BOOST_TEST(all.find("did you mean 'enabled'?") != std::string::npos, all);
}

BOOST_AUTO_TEST_CASE(bounce_and_suppression_problems_are_reported) {
  auto errors =
      errors_of(kListener +
                "bounces:\n"
                "  rules:\n"
                "    - {match: \"(open\", category: policy}\n"
                "    - {match: x, category: invalid-recipent}\n"
                "    - {category: policy}\n"
                "    - {dsn: \"5.x\", category: policy}\n"
                "suppression: {on: [complaints], scope: everywhere, at_submission: drop}\n");
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  BOOST_TEST(errors.size() == 7u, all);
  BOOST_TEST(all.find("bad regular expression '(open'") != std::string::npos, all);
  BOOST_TEST(all.find("unknown bounce category 'invalid-recipent', did you mean "
                      "'invalid-recipient'?") != std::string::npos,
             all);
  BOOST_TEST(all.find("a bounce rule needs match, provider or dsn") != std::string::npos, all);
  BOOST_TEST(all.find("'5.x' is not an enhanced status code") != std::string::npos, all);
  BOOST_TEST(all.find("unknown bounce category 'complaints', did you mean 'complaint'?") !=
                 std::string::npos,
             all);
  BOOST_TEST(all.find("suppression.scope: unknown value 'everywhere'") != std::string::npos, all);
  BOOST_TEST(all.find("suppression.at_submission: unknown value 'drop'") != std::string::npos, all);
}

BOOST_AUTO_TEST_CASE(dmarc_reports_load_at_a_local_domain_only) {
  const std::string domains = "domains: [{name: example.test, mailboxes: [dmarc]}]\n";
  BOOST_TEST(loaded(kListener)->dmarc_reports.rua.empty());
  BOOST_TEST(loaded(kListener)->dmarc_reports.unknown_threshold == 10u);
  ConfigPtr c = loaded(kListener + domains +
                       "dmarc_reports: {rua: DMARC@Example.TEST, unknown_threshold: 50}\n");
  BOOST_TEST(c->dmarc_reports.rua == "dmarc@example.test");
  BOOST_TEST(c->dmarc_reports.unknown_threshold == 50u);
  BOOST_TEST(error_of(kListener + domains + "dmarc_reports: {rua: dmarc@elsewhere.test}\n")
                 .find("'elsewhere.test' is not one of domains") != std::string::npos);
  BOOST_TEST(error_of(kListener + domains + "dmarc_reports: {rua: \"@example.test\"}\n")
                 .find("expected an address") != std::string::npos);
  BOOST_TEST(error_of(kListener + domains +
                      "dmarc_reports: {rua: dmarc@example.test, unknown_threshold: 0}\n")
                 .find("unknown_threshold") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cluster_loads_and_checks_its_keys) {
  BOOST_TEST(!loaded(kListener)->cluster.has_value());
  ConfigPtr c = loaded(kListener +
                       "cluster: {redis: \"redis://127.0.0.1:6390\", node: n1, local_share: 0.25, "
                       "lease: 3}\n");
  BOOST_TEST_REQUIRE(c->cluster.has_value());
  BOOST_TEST(c->cluster->server.to_string() == "127.0.0.1:6390");
  BOOST_TEST(c->cluster->node == "n1");
  BOOST_TEST(c->cluster->local_share == 0.25);
  BOOST_TEST(c->cluster->lease == 3u);
  c = loaded(kListener + "cluster: {redis: \"redis://localhost\", node: n2}\n");
  BOOST_TEST(c->cluster->server.to_string() == "127.0.0.1:6379");
  BOOST_TEST(c->cluster->local_share == 0.1);
  BOOST_TEST(c->cluster->password.empty());
  // AUTH: the password from the URL, never shown.
  c = loaded(kListener + "cluster: {redis: \"redis://:s3cret@127.0.0.1:6390\", node: n3}\n");
  BOOST_TEST(c->cluster->server.to_string() == "127.0.0.1:6390");
  BOOST_TEST(c->cluster->user.empty());
  BOOST_TEST(c->cluster->password == "s3cret");
  BOOST_TEST(c->cluster->redis == "redis://:***@127.0.0.1:6390");
  c = loaded(kListener + "cluster: {redis: \"redis://hato:p@ss@[::1]:6391\", node: n3}\n");
  BOOST_TEST(c->cluster->user == "hato");
  BOOST_TEST(c->cluster->password == "p@ss");
  BOOST_TEST(c->cluster->server.to_string() == "[::1]:6391");
  auto no_password =
      errors_of(kListener + "cluster: {redis: \"redis://hato@127.0.0.1\", node: n}\n");
  BOOST_TEST_REQUIRE(no_password.size() == 1u);
  BOOST_TEST(no_password[0].find("redis://USER:PASSWORD@HOST:PORT") != std::string::npos,
             no_password[0]);
  auto errors = errors_of(kListener + "cluster: {redis: \"http://127.0.0.1\", local_share: 2}\n");
  BOOST_TEST_REQUIRE(errors.size() == 3u);
  for (std::string_view want :
       {"expected redis://HOST:PORT", "missing required key 'node'", "above 0 and at most 1"}) {
    BOOST_TEST(std::any_of(errors.begin(), errors.end(),
                           [&](const std::string& e) { return e.find(want) != std::string::npos; }),
               want);
  }
}

BOOST_AUTO_TEST_CASE(same_egress_and_shaping_compares_what_the_limiter_uses) {
  const std::string egress =
      "egress: [{address: 192.0.2.1, warmup: {start: 2026-11-01, daily: [5, 7]}}]\n";
  const std::string shaping = "shaping: {providers: [{name: google, rate: 20/s}]}\n";
  ConfigPtr base = loaded(kListener + egress + shaping);
  BOOST_TEST(same_egress_and_shaping(
      *base, *loaded(kListener + "log: {format: json}\n" + egress + shaping)));
  // The HELO name defaults to the hostname, so a new hostname is a new HELO.
  BOOST_TEST(!same_egress_and_shaping(
      *base, *loaded(kListener + "hostname: b.test\n" + egress + shaping)));
  BOOST_TEST(!same_egress_and_shaping(*base, *loaded(kListener + shaping)));
  // A new warm-up schedule is applied by a reload (issue 28): no restart needed.
  BOOST_TEST(same_egress_and_shaping(
      *base,
      *loaded(kListener +
              "egress: [{address: 192.0.2.1, warmup: {start: 2026-11-01, daily: [5, 8]}}]\n" +
              shaping)));
  BOOST_TEST(!same_egress_and_shaping(
      *base, *loaded(kListener +
                     "egress: [{address: 192.0.2.1, weight: 2, warmup: {start: "
                     "2026-11-01, daily: [5, 7]}}]\n" +
                     shaping)));
  BOOST_TEST(!same_egress_and_shaping(
      *base, *loaded(kListener + egress + "shaping: {providers: [{name: google, rate: 21/s}]}\n")));
}

BOOST_AUTO_TEST_CASE(egress_problems_are_reported_at_their_values) {
  BOOST_TEST(error_of(kListener + "egress: {address: 192.0.2.1}\n") ==
             "t.yaml:2:9: egress: expected a list, got a map");
  BOOST_TEST(error_of(kListener + "egress: [{helo: a.test}]\n") ==
             "t.yaml:2:10: egress[0]: missing required key 'address'");
  BOOST_TEST(error_of(kListener + "egress: [{address: 192.0.2.300}]\n") ==
             "t.yaml:2:20: egress[0].address: bad address '192.0.2.300': '192.0.2.300' is not a "
             "numeric IPv4 or IPv6 address");
  BOOST_TEST(error_of(kListener + "egress: [{address: \"192.0.2.1:25\"}]\n") ==
             "t.yaml:2:20: egress[0].address: a source address takes no port");
  BOOST_TEST(
      error_of(kListener + "egress:\n  - {address: 192.0.2.1}\n  - {address: 192.0.2.1}\n") ==
      "t.yaml:4:15: egress[1].address: duplicate egress address '192.0.2.1' (first at line 3)");
  BOOST_TEST(error_of(kListener + "egress: [{address: 192.0.2.1, helo: \"bad name\"}]\n") ==
             "t.yaml:2:37: egress[0].helo: 'bad name' is not a valid host name");
  BOOST_TEST(error_of(kListener + "egress: [{address: 192.0.2.1, weight: 0}]\n") ==
             "t.yaml:2:39: egress[0].weight: 0 is out of range (1 to 1000000)");
  BOOST_TEST(error_of(kListener + "egress: [{address: 192.0.2.1, warmup: {daily: [1]}}]\n") ==
             "t.yaml:2:39: egress[0].warmup: missing required key 'start'");
  BOOST_TEST(
      error_of(kListener + "egress: [{address: 192.0.2.1, warmup: {start: 11/01/2026}}]\n") ==
      "t.yaml:2:47: egress[0].warmup.start: bad date '11/01/2026': expected YYYY-MM-DD");
  BOOST_TEST(error_of(kListener + "egress: [{address: 192.0.2.1, wamrup: {}}]\n") ==
             "t.yaml:2:31: egress[0]: unknown key 'wamrup', did you mean 'warmup'?");

  auto errors = errors_of(kListener +
                          "egress:\n"                                       // 2
                          "  - address: 192.0.2.1\n"                        // 3
                          "    warmup:\n"                                   // 4
                          "      start: 2026-02-30\n"                       // 5
                          "      daily: [5, 0]\n"                           // 6
                          "      per_provider: maybe\n"                     // 7
                          "  - address: 192.0.2.2\n"                        // 8
                          "    warmup: {start: 2026-01-01, daily: []}\n");  // 9
  std::vector<std::string> expected = {
      "t.yaml:5:14: egress[0].warmup.start: bad date '2026-02-30': no such day",
      "t.yaml:6:18: egress[0].warmup.daily[1]: 0 is out of range (1 to 4294967295)",
      "t.yaml:7:21: egress[0].warmup.per_provider: unknown value 'maybe' (expected true or false)",
      "t.yaml:9:40: egress[1].warmup.daily: must not be empty (leave it out for the built-in "
      "schedule)",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(shaping_problems_are_reported_at_their_values) {
  auto errors = errors_of(kListener +
                          "shaping:\n"                                                      // 2
                          "  providers:\n"                                                  // 3
                          "    - {name: fastmail, connections: 2}\n"                        // 4
                          "    - {name: default}\n"                                         // 5
                          "    - {name: \"bad name\", mx_suffix: [x.test]}\n"               // 6
                          "    - {name: google, mx_suffix: [google.com, \"no domain\"]}\n"  // 7
                          "    - {name: GOOGLE, rate: 20/x}\n"                              // 8
                          "    - {name: other, mx_suffix: [GOOGLE.com.]}\n"                 // 9
                          "  suspend_on:\n"                                                 // 10
                          "    - {reply: x, provider: gogle, for: 0s}\n"                    // 11
                          "    - {provider: yahoo}\n"                                       // 12
                          "  default: {connections: 0, rate: 0/s}\n"                        // 13
                          "  defaults: {}\n");                                              // 14
  std::vector<std::string> expected = {
      "t.yaml:4:7: shaping.providers[0]: missing required key 'mx_suffix' ('fastmail' is not "
      "built in like google, microsoft, yahoo and apple)",
      "t.yaml:5:14: shaping.providers[1].name: 'default' stands for every other destination; set "
      "its limits in shaping.default",
      "t.yaml:6:14: shaping.providers[2].name: 'bad name' is not a valid provider name (letters, "
      "digits, - and _)",
      "t.yaml:7:46: shaping.providers[3].mx_suffix[1]: 'no domain' is not a valid domain name",
      "t.yaml:8:14: shaping.providers[4].name: duplicate provider 'google' (first at line 7)",
      "t.yaml:8:28: shaping.providers[4].rate: bad rate '20/x': expected a count per s, m, h or d, "
      "such as 20/s or 3600/h",
      "t.yaml:9:33: shaping.providers[5].mx_suffix[0]: duplicate mx_suffix 'google.com' (first at "
      "line 7)",
      "t.yaml:11:28: shaping.suspend_on[0].provider: unknown provider 'gogle', did you mean "
      "'google'?",
      "t.yaml:11:40: shaping.suspend_on[0].for: duration must be greater than zero",
      "t.yaml:12:7: shaping.suspend_on[1]: missing required key 'reply'",
      "t.yaml:13:26: shaping.default.connections: 0 is out of range (1 to 4294967295)",
      "t.yaml:13:35: shaping.default.rate: bad rate '0/s': must be greater than zero",
      "t.yaml:14:3: shaping: unknown key 'defaults', did you mean 'default'?",
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());

  // The expression is compiled when the file is read, not when the first reply comes.
  std::string bad = error_of(kListener + "shaping: {suspend_on: [{reply: \"4\\\\.7(\"}]}\n");
  BOOST_TEST(bad.starts_with(
                 "t.yaml:2:32: shaping.suspend_on[0].reply: bad regular expression '4\\.7(': "),
             bad);
  BOOST_TEST(
      error_of(kListener + "shaping: {suspend_on: [{reply: " + std::string(257, 'a') + "}]}\n") ==
      "t.yaml:2:32: shaping.suspend_on[0].reply: regular expression too long (at most 256 "
      "characters)");
  BOOST_TEST(error_of(kListener + "shaping: {providers: {name: google}}\n") ==
             "t.yaml:2:22: shaping.providers: expected a list, got a map");
}

BOOST_AUTO_TEST_CASE(rates_parse) {
  BOOST_TEST(*parse_rate("20/s") == 20.0);
  BOOST_TEST(*parse_rate("120/m") == 2.0);
  BOOST_TEST(*parse_rate("3600/h") == 1.0);
  BOOST_TEST(*parse_rate("86400/d") == 1.0);
  BOOST_TEST(*parse_rate("5 / s") == 5.0);
  BOOST_TEST(*parse_rate("1/M") == 1.0 / 60.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(rates_reject) {
  for (const char* bad : {"", "20", "20/", "/s", "20/ms", "20/x", "20/s2", "-1/s", "1.5/s"}) {
    auto r = parse_rate(bad);
    BOOST_TEST(!r, bad);
    BOOST_TEST(r.message().starts_with("bad rate '" + std::string(bad) + "': expected a count"),
               r.message());
  }
  BOOST_TEST(parse_rate("0/s").message() == "bad rate '0/s': must be greater than zero");
  BOOST_TEST(parse_rate("99999999999999999999/s").message() ==
             "bad rate '99999999999999999999/s': too large");
}

BOOST_AUTO_TEST_CASE(dates_parse_and_reject) {
  BOOST_TEST(*parse_date("1970-01-01") == 0);
  BOOST_TEST(*parse_date("2026-11-01") == 20758);
  BOOST_TEST(*parse_date("2028-02-29") == 21243);  // a leap day
  BOOST_TEST(parse_date("2027-02-29").message() == "bad date '2027-02-29': no such day");
  BOOST_TEST(parse_date("2026-13-01").message() == "bad date '2026-13-01': no such day");
  for (const char* bad :
       {"", "2026-1-01", "2026/11/01", "26-11-01", "2026-11-01T00:00", "+026-11-01"}) {
    BOOST_TEST(parse_date(bad).message() ==
               "bad date '" + std::string(bad) + "': expected YYYY-MM-DD");
  }
}

BOOST_AUTO_TEST_CASE(every_problem_is_collected_in_file_order) {
  TempDir dir;
  std::string missing = dir.path + "/nope.pem";
  auto errors = errors_of(
      "hostnme: relay.example.test\n"                                  // 1
      "log: {format: yaml}\n"                                          // 2
      "listeners:\n"                                                   // 3
      "  - {name: mx, address: \"127.0.0.1:99999\", role: inbound}\n"  // 4
      "  - {name: mx, address: \"127.0.0.1:26\"}\n"                    // 5
      "limits:\n"                                                      // 6
      "  data_timeout: 5 minutes\n"                                    // 7
      "  max_message_size: lots\n"                                     // 8
      "tls: {certificate: " +
      missing + ", key: " + missing + "}\n");  // 9
  std::vector<std::string> expected = {
      "t.yaml:1:1: unknown key 'hostnme', did you mean 'hostname'?",
      "t.yaml:2:15: log.format: unknown value 'yaml' (expected text or json)",
      "t.yaml:4:25: listeners[0].address: bad address '127.0.0.1:99999': bad port in address",
      "t.yaml:5:5: listeners[1]: missing required key 'role'",
      "t.yaml:5:12: listeners[1].name: duplicate listener name 'mx' (first at line 4)",
      "t.yaml:7:17: limits.data_timeout: bad duration '5 minutes': unknown unit 'minutes' "
      "(ms, s, m, h or d)",
      "t.yaml:8:21: limits.max_message_size: bad size 'lots': expected a number",
      "t.yaml:9:20: tls.certificate: file not found: " + missing,
      "t.yaml:" + std::to_string(9) + ":" + std::to_string(20 + missing.size() + 7) +
          ": tls.key: file not found: " + missing,
  };
  BOOST_TEST(errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(only_one_document_is_allowed) {
  BOOST_TEST(error_of(kListener + "---\nhostname: b\n") ==
             "t.yaml:3:1: only one YAML document is allowed");
}

BOOST_AUTO_TEST_CASE(find_domain_ignores_case) {
  ConfigPtr c = loaded(kListener + "domains: [{name: example.test}, {name: Other.Test}]\n");
  BOOST_TEST_REQUIRE(c->find_domain("EXAMPLE.test") != nullptr);
  BOOST_TEST(c->find_domain("EXAMPLE.test")->name == "example.test");
  BOOST_TEST(c->find_domain("other.test") == &c->domains[1]);
  BOOST_TEST(c->find_domain("example") == nullptr);
}

BOOST_AUTO_TEST_CASE(durations_parse) {
  BOOST_TEST((parse_duration("250ms").value() == milliseconds(250)));
  BOOST_TEST((parse_duration("30s").value() == seconds(30)));
  BOOST_TEST((parse_duration("5m").value() == minutes(5)));
  BOOST_TEST((parse_duration("4h").value() == hours(4)));
  BOOST_TEST((parse_duration("5d").value() == hours(120)));
  BOOST_TEST((parse_duration("1h30m").value() == minutes(90)));
  BOOST_TEST((parse_duration("0s").value() == milliseconds(0)));
  BOOST_TEST((parse_duration("5 m").value() == minutes(5)));
  BOOST_TEST((parse_duration("1D").value() == hours(24)));
}

BOOST_AUTO_TEST_CASE(durations_reject) {
  BOOST_TEST(parse_duration("").message() == "bad duration '': expected a number and a unit");
  BOOST_TEST(parse_duration("30").message() ==
             "bad duration '30': missing unit (ms, s, m, h or d)");
  BOOST_TEST(parse_duration("5w").message() ==
             "bad duration '5w': unknown unit 'w' (ms, s, m, h or d)");
  BOOST_TEST(parse_duration("-5m").message() == "bad duration '-5m': expected a number");
  BOOST_TEST(parse_duration("1.5h").message() == "bad duration '1.5h': unexpected '.5h'");
  BOOST_TEST(parse_duration("5m!").message() == "bad duration '5m!': unexpected '!'");
  BOOST_TEST(parse_duration("99999999999999999999d").message() ==
             "bad duration '99999999999999999999d': too large");
  BOOST_TEST(parse_duration("9999999999999d").message() ==
             "bad duration '9999999999999d': too large");
}

BOOST_AUTO_TEST_CASE(sizes_parse) {
  BOOST_TEST(parse_size("1024").value() == 1024u);
  BOOST_TEST(parse_size("100B").value() == 100u);
  BOOST_TEST(parse_size("50M").value() == 50u * 1024 * 1024);
  BOOST_TEST(parse_size("10MiB").value() == 10u * 1024 * 1024);
  BOOST_TEST(parse_size("10mb").value() == 10u * 1024 * 1024);
  BOOST_TEST(parse_size("64k").value() == 64u * 1024);
  BOOST_TEST(parse_size("2G").value() == 2ull * 1024 * 1024 * 1024);
  BOOST_TEST(parse_size("1 TiB").value() == 1ull << 40);
}

BOOST_AUTO_TEST_CASE(sizes_reject) {
  BOOST_TEST(parse_size("").message() == "bad size '': expected a number");
  BOOST_TEST(parse_size("M").message() == "bad size 'M': expected a number");
  BOOST_TEST(parse_size("1.5G").message() ==
             "bad size '1.5G': unknown unit '.5G' (K, M, G or T, optionally followed by B or iB)");
  BOOST_TEST(parse_size("10MiBs").message() ==
             "bad size '10MiBs': unknown unit 'mibs' (K, M, G or T, optionally followed by B or "
             "iB)");
  BOOST_TEST(parse_size("20000000T").message() == "bad size '20000000T': too large");
  BOOST_TEST(parse_size("99999999999999999999").message() ==
             "bad size '99999999999999999999': too large");
}

BOOST_AUTO_TEST_CASE(embedded_default_is_the_development_relay) {
  ConfigPtr c = embedded_default();
  BOOST_TEST(c->source == "<embedded default>");
  BOOST_TEST(c->hostname == "localhost");
  BOOST_TEST(c->data_dir == "hato-data");
  BOOST_TEST(c->users_file == "hato-data/users");
  BOOST_TEST(c->admin.socket == "hato-data/admin.sock");
  BOOST_TEST(c->tls.certificate == "hato-data/tls/cert.pem");
  BOOST_TEST(c->tls.key == "hato-data/tls/key.pem");
  BOOST_TEST_REQUIRE(c->listeners.size() == 2u);
  BOOST_TEST(c->listeners[0].name == "mx");
  BOOST_TEST(c->listeners[0].address.to_string() == "127.0.0.1:2525");
  BOOST_TEST((c->listeners[0].role == ListenerRole::kInbound));
  BOOST_TEST((c->listeners[0].tls == ListenerTls::kStartTls));
  BOOST_TEST(c->listeners[1].name == "submission");
  BOOST_TEST(c->listeners[1].address.to_string() == "127.0.0.1:2587");
  BOOST_TEST((c->listeners[1].role == ListenerRole::kSubmission));
  BOOST_TEST((c->listeners[1].tls == ListenerTls::kStartTls));
  BOOST_TEST_REQUIRE(c->domains.size() == 1u);
  BOOST_TEST(c->domains[0].name == "localhost");
  BOOST_TEST(c->domains[0].mailboxes == (std::vector<std::string>{"postmaster", "dev"}));
  BOOST_TEST(c->find_domain("LOCALHOST") != nullptr);

  BOOST_TEST(embedded_default("/tmp/x")->tls.key == "/tmp/x/tls/key.pem");
}

BOOST_AUTO_TEST_CASE(load_file_reads_and_names_the_file) {
  TempDir dir;
  std::string path = dir.file("hato.yaml", "hostname: a.test\n" + kListener);
  LoadResult result = load_file(path);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.config->source == path);
  BOOST_TEST(result.config->hostname == "a.test");

  std::string bad = dir.file("bad.yaml", kListener + "log: {format: xml}\n");
  result = load_file(bad);
  BOOST_TEST_REQUIRE(result.errors.size() == 1u);
  BOOST_TEST(result.errors[0] ==
             bad + ":2:15: log.format: unknown value 'xml' (expected text or json)");
}

BOOST_AUTO_TEST_CASE(load_file_reports_an_unreadable_file) {
  TempDir dir;
  LoadResult result = load_file(dir.path + "/absent.yaml");
  BOOST_TEST(!result.ok());
  BOOST_TEST(result.errors == (std::vector<std::string>{
                                  dir.path + "/absent.yaml:1:1: cannot read file: No such file or "
                                             "directory"}));
  result = load_file(dir.path);
  BOOST_TEST(result.errors ==
             (std::vector<std::string>{dir.path + ":1:1: cannot read file: Is a directory"}));
}

BOOST_AUTO_TEST_CASE(find_config_file_prefers_the_given_then_the_working_directory) {
  TempDir dir;
  BOOST_TEST(find_config_file("/no/such/hato.yaml") == "/no/such/hato.yaml");
  ChangeDir in(dir.path);
  std::string fallback =
      std::filesystem::exists("/etc/hato/hato.yaml") ? "/etc/hato/hato.yaml" : "";
  BOOST_TEST(find_config_file("") == fallback);
  dir.file("hato.yaml", kListener);
  BOOST_TEST(find_config_file("") == "./hato.yaml");
}

BOOST_AUTO_TEST_CASE(inbound_scanners_limits_and_lmtp_load) {
  ConfigPtr c = loaded(kListener +
                       "domains:\n"
                       "  - {name: a.test, mailboxes: [support], lmtp: \"127.0.0.1:24\"}\n"
                       "  - {name: b.test, mailboxes: [x], lmtp: \"unix:/run/dovecot/lmtp\"}\n"
                       "  - {name: c.test, mailboxes: [y]}\n"
                       "inbound:\n"
                       "  scanners:\n"
                       "    rspamd: {url: \"http://localhost:11334/\", on_failure: accept}\n"
                       "    clamav: {address: /run/clamav/clamd.ctl, timeout: 5s}\n"
                       "  limits:\n"
                       "    connections_per_client: 7\n"
                       "    messages_per_client: 60/m\n"
                       "    error_slowdown: {after: 2, delay: 500ms, max_delay: 4s,"
                       " disconnect_after: 9}\n");
  BOOST_TEST_REQUIRE(c->domains.size() == 3u);
  BOOST_TEST(c->domains[0].lmtp->to_string() == "127.0.0.1:24");
  BOOST_TEST(c->domains[1].lmtp->to_string() == "unix:/run/dovecot/lmtp");
  BOOST_TEST(!c->domains[2].lmtp.has_value());
  const auto& s = c->inbound.scanners;
  BOOST_TEST_REQUIRE(s.rspamd.has_value());
  BOOST_TEST(s.rspamd->address.to_string() == "127.0.0.1:11334");
  BOOST_TEST(s.rspamd->accept_on_failure);
  BOOST_TEST(s.rspamd->timeout.count() == 20000);
  BOOST_TEST_REQUIRE(s.clamav.has_value());
  BOOST_TEST(s.clamav->address.to_string() == "unix:/run/clamav/clamd.ctl");
  BOOST_TEST(!s.clamav->accept_on_failure);
  BOOST_TEST(s.clamav->timeout.count() == 5000);
  const auto& l = c->inbound.limits;
  BOOST_TEST(l.connections_per_client == 7u);
  BOOST_TEST(l.messages_per_second == 1.0);
  BOOST_TEST(l.messages_burst == 60.0);
  BOOST_TEST(l.error_slowdown.after == 2u);
  BOOST_TEST(l.error_slowdown.delay.count() == 500);
  BOOST_TEST(l.error_slowdown.max_delay.count() == 4000);
  BOOST_TEST(l.error_slowdown.disconnect_after == 9u);
}

BOOST_AUTO_TEST_CASE(inbound_scanner_mistakes_are_reported) {
  BOOST_TEST(error_of(kListener + "inbound: {scanners: {rspamd: {url: \"127.0.0.1:11333\"}}}\n") ==
             "t.yaml:2:36: inbound.scanners.rspamd.url: '127.0.0.1:11333' is not an http:// url "
             "with a numeric address");
  BOOST_TEST(
      error_of(kListener +
               "inbound: {scanners: {clamav: {address: \"127.0.0.1:3310\", on_failure: drop}}}\n")
          .find("unknown value 'drop' (expected tempfail or accept)") != std::string::npos);
  BOOST_TEST(error_of(kListener + "domains:\n  - {name: a.test, lmtp: \"host:24\"}\n")
                 .find("is not a numeric IPv4 or IPv6 address") != std::string::npos);
}

// events: webhooks are HTTPS with a secret read from its file; their lists are checked.
BOOST_AUTO_TEST_CASE(events_webhooks_load_and_are_checked) {
  TempDir dir;
  std::string secret = dir.file("hook.secret", "0123456789abcdef-secret\n");
  ConfigPtr c = loaded(kListener +
                       "events:\n"
                       "  backlog: 5000\n"
                       "  webhooks:\n"
                       "    - {url: \"https://app.example.test/hook\", secret_file: \"" +
                       secret +
                       "\", types: [delivered, bounced], users: [app], domains: [Example.TEST],"
                       " batch: 10, timeout: 3s}\n");
  BOOST_TEST(c->events.backlog == 5000u);
  BOOST_TEST_REQUIRE(c->events.webhooks.size() == 1u);
  const Webhook& h = c->events.webhooks[0];
  BOOST_TEST(h.url == "https://app.example.test/hook");
  BOOST_TEST(h.target.host == "app.example.test");
  BOOST_TEST(h.secret == "0123456789abcdef-secret");
  BOOST_TEST(h.types == (std::vector<std::string>{"delivered", "bounced"}),
             boost::test_tools::per_element());
  BOOST_TEST(h.users == std::vector<std::string>{"app"}, boost::test_tools::per_element());
  BOOST_TEST(h.domains == std::vector<std::string>{"example.test"},
             boost::test_tools::per_element());
  BOOST_TEST(h.batch == 10u);
  BOOST_TEST(std::chrono::duration_cast<std::chrono::seconds>(h.timeout).count() == 3);
  BOOST_TEST(loaded(kListener)->events.backlog == 1000000u);

  auto hook = [&](const std::string& fields) {
    return error_of(kListener + "events: {webhooks: [{" + fields + "}]}\n");
  };
  std::string ok_secret = "secret_file: \"" + secret + "\"";
  std::string e = hook("url: \"http://app.example.test/\", " + ok_secret);
  BOOST_TEST(e.find("must be an https:// URL") != std::string::npos, e);
  e = hook("url: \"https://a.test/\", " + ok_secret + ", types: [delivred]");
  BOOST_TEST(e.find("unknown event type 'delivred'") != std::string::npos, e);
  e = hook("url: \"https://a.test/\", secret_file: \"" + dir.file("short", "abc\n") + "\"");
  BOOST_TEST(e.find("shorter than 16 bytes") != std::string::npos, e);
  e = hook("url: \"https://a.test/\", secret_file: /nonexistent/hook.secret");
  BOOST_TEST(e.find("file not found") != std::string::npos, e);
  e = hook("url: \"https://a.test/\", " + ok_secret + ", batch: 0");
  BOOST_TEST(e.find("batch") != std::string::npos, e);
  e = hook(ok_secret);
  BOOST_TEST(e.find("url") != std::string::npos, e);
}

// The dashboard carries passwords and session cookies: plain HTTP only on loopback.
BOOST_AUTO_TEST_CASE(admin_web_off_loopback_needs_a_certificate) {
  BOOST_TEST(error_of(kListener + "admin: {web: \"0.0.0.0:8025\"}\n") ==
             "t.yaml:2:14: admin.web: 0.0.0.0:8025 is not a loopback address: the dashboard "
             "needs HTTPS there, so set tls.certificate (or tls.acme), or listen on 127.0.0.1");
  auto local = loaded(kListener + "admin: {web: \"127.0.0.1:8025\"}\n");
  BOOST_TEST_REQUIRE(local->admin.web.has_value());
  BOOST_TEST(local->admin.web->is_loopback());
  BOOST_TEST(loaded(kListener + "admin: {web: \"[::1]:8025\"}\n")->admin.web->is_loopback());
  BOOST_TEST(!loaded(kListener)->admin.web.has_value());
}

}  // namespace
}  // namespace hato::conf
