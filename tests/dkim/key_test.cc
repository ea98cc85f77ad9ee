// key_test.cc - `hato dkim keygen` and key loading: the file (mode 0600, never overwritten),
// the printed record (zone-file form, strings of at most 255), usage errors, and load_key's
// checks of type, size and encryption.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "common/base64.h"
#include "dkim_test_util.h"
#include "policy/dkim/key.h"
#include "policy/dkim/tags.h"

namespace hato::dkim {
namespace {

using testing::dkim_cli;
using testing::parse_zone_txt;
using testing::TempDir;

BOOST_AUTO_TEST_SUITE(keys)

BOOST_AUTO_TEST_CASE(keygen_rsa_writes_0600_and_prints_split_record) {
  TempDir dir;
  mode_t old = umask(0);  // the mode must not depend on the caller's umask
  auto r =
      dkim_cli({"keygen", "--domain", "example.test", "--selector", "s1", "--out", dir / "k.pem"});
  umask(old);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  struct stat st;
  BOOST_TEST_REQUIRE(stat((dir / "k.pem").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(testing::read_file(dir / "k.pem").starts_with("-----BEGIN PRIVATE KEY-----"));

  BOOST_TEST(r.out.starts_with("s1._domainkey.example.test. IN TXT ( \""), r.out);
  BOOST_TEST(r.out.ends_with("\" )\n"), r.out);
  auto z = parse_zone_txt(r.out);
  BOOST_TEST(z.strings.size() == 2u);  // a 2048-bit key's record is about 410 characters
  for (const auto& s : z.strings) BOOST_TEST(s.size() <= 255u);
  BOOST_TEST(z.joined.starts_with("v=DKIM1; k=rsa; p=MIIB"), z.joined);
  auto tags = TagList::parse(z.joined);
  BOOST_TEST_REQUIRE(tags.is_ok());
  auto der = base64_decode(*tags->find("p"));
  BOOST_TEST_REQUIRE(der.has_value());
  BOOST_TEST(der->size() == 294u);  // SubjectPublicKeyInfo of RSA-2048

  auto key = load_key(dir / "k.pem", "example.test", "s1", Algorithm::kRsaSha256);
  BOOST_TEST_REQUIRE(key.is_ok(), key.message());
  BOOST_TEST(public_key_record(*key) == z.joined);
}

BOOST_AUTO_TEST_CASE(keygen_ed25519_raw_key_and_default_name) {
  TempDir dir;
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path);
  auto r = dkim_cli(
      {"keygen", "--domain=example.test", "--selector=e1", "--algorithm", "ed25519-sha256"});
  std::filesystem::current_path(cwd);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(std::filesystem::exists(dir / "example.test.e1.pem"));
  auto z = parse_zone_txt(r.out);
  BOOST_TEST(z.owner == "e1._domainkey.example.test.");
  BOOST_TEST(z.strings.size() == 1u);
  BOOST_TEST(z.joined.starts_with("v=DKIM1; k=ed25519; p="), z.joined);
  auto p = base64_decode(z.joined.substr(z.joined.find("p=") + 2));
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->size() == 32u);  // RFC 8463: the raw public key, not SubjectPublicKeyInfo
  auto key = load_key(dir / "example.test.e1.pem", "example.test", "e1", Algorithm::kEd25519Sha256);
  BOOST_TEST_REQUIRE(key.is_ok(), key.message());
  // The wrong algorithm for the file is refused.
  BOOST_TEST(
      !load_key(dir / "example.test.e1.pem", "example.test", "e1", Algorithm::kRsaSha256).is_ok());
}

BOOST_AUTO_TEST_CASE(keygen_refuses_to_overwrite) {
  TempDir dir;
  testing::write_file(dir / "k.pem", "precious");
  auto r = dkim_cli({"keygen", "--domain", "example.test", "--selector", "s1", "--algorithm",
                     "ed25519-sha256", "--out", dir / "k.pem"});
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.err.find("exists") != std::string::npos, r.err);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(testing::read_file(dir / "k.pem") == "precious");
}

BOOST_AUTO_TEST_CASE(keygen_usage_errors) {
  TempDir dir;
  const std::vector<std::vector<std::string>> kBad = {
      {},
      {"frobnicate"},
      {"keygen", "--selector", "s1"},
      {"keygen", "--domain", "example.test"},
      {"keygen", "--domain", "exa mple.test", "--selector", "s1"},
      {"keygen", "--domain", "example.test", "--selector", "s/1"},
      {"keygen", "--domain", "example.test", "--selector", "s1", "--algorithm", "rsa-sha1"},
      {"keygen", "--domain", "example.test", "--selector", "s1", "--bits", "512"},
      {"keygen", "--domain", "example.test", "--selector", "s1", "--bits", "8192"},
      {"keygen", "--domain", "example.test", "--selector", "s1", "--bits", "2048x"},
      {"keygen", "--domain", "example.test", "--selector", "s1", "--algorithm", "ed25519-sha256",
       "--bits", "2048"},
      {"keygen", "--domain", "example.test", "--selector", "s1", "--colour", "blue"},
      {"keygen", "--domain", "example.test", "--selector"},
  };
  for (const auto& args : kBad) {
    auto with_out = args;
    if (args.size() > 1) {
      with_out.push_back("--out");
      with_out.push_back(dir / "never.pem");
    }
    auto r = dkim_cli(with_out);
    BOOST_TEST(r.status == 2, (args.empty() ? "" : args.back()));
    BOOST_TEST(r.err.find("usage: hato dkim keygen") != std::string::npos);
  }
  BOOST_TEST(!std::filesystem::exists(dir / "never.pem"));
  auto help = dkim_cli({"keygen", "--help"});
  BOOST_TEST(help.status == 0);
  BOOST_TEST(help.out.starts_with("usage: hato dkim keygen"));
}

BOOST_AUTO_TEST_CASE(keygen_rsa_1024_bits) {
  TempDir dir;
  auto r = dkim_cli({"keygen", "--domain", "example.test", "--selector", "s1024", "--bits", "1024",
                     "--out", dir / "k.pem"});
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(parse_zone_txt(r.out).strings.size() == 1u);
  BOOST_TEST(load_key(dir / "k.pem", "example.test", "s1024", Algorithm::kRsaSha256).is_ok());
}

BOOST_AUTO_TEST_CASE(zone_line_splits_at_255) {
  std::string record(600, 'x');
  auto z = parse_zone_txt(zone_txt_line("a._domainkey.example.test", record));
  BOOST_TEST(z.owner == "a._domainkey.example.test.");
  BOOST_TEST_REQUIRE(z.strings.size() == 3u);
  BOOST_TEST(z.strings[0].size() == 255u);
  BOOST_TEST(z.strings[1].size() == 255u);
  BOOST_TEST(z.strings[2].size() == 90u);
  BOOST_TEST(z.joined == record);
}

BOOST_AUTO_TEST_CASE(load_key_checks) {
  TempDir dir;
  BOOST_TEST(!load_key(dir / "missing.pem", "example.test", "s1", Algorithm::kRsaSha256).is_ok());
  testing::write_file(dir / "junk.pem", "not a key");
  BOOST_TEST(!load_key(dir / "junk.pem", "example.test", "s1", Algorithm::kRsaSha256).is_ok());

  // Made by openssl(1), not by us: a traditional RSA PEM loads; 512 bits and encrypted do not.
  auto gen = [&](const std::string& args, const std::string& file, const std::string& tail = "") {
    auto r = testing::run("openssl " + args + " -out " + testing::shell_quote(dir / file) + tail);
    BOOST_TEST_REQUIRE(r.status == 0, r.output);
  };
  gen("genrsa -traditional", "trad.pem", " 1024");
  BOOST_TEST(testing::read_file(dir / "trad.pem").starts_with("-----BEGIN RSA PRIVATE KEY"));
  auto trad = load_key(dir / "trad.pem", "example.test", "s1", Algorithm::kRsaSha256);
  BOOST_TEST(trad.is_ok(), trad.message());

  gen("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512", "small.pem");
  auto small = load_key(dir / "small.pem", "example.test", "s1", Algorithm::kRsaSha256);
  BOOST_TEST(!small.is_ok());
  BOOST_TEST(small.message().find("512 bits") != std::string::npos, small.message());

  gen("genpkey -algorithm ED25519 -aes-128-cbc -pass pass:secret", "enc.pem");
  // Must fail at once, not prompt for a passphrase.
  BOOST_TEST(!load_key(dir / "enc.pem", "example.test", "s1", Algorithm::kEd25519Sha256).is_ok());

  gen("genpkey -algorithm ED25519", "ed.pem");
  BOOST_TEST(load_key(dir / "ed.pem", "example.test", "s1", Algorithm::kEd25519Sha256).is_ok());
  BOOST_TEST(!load_key(dir / "ed.pem", "bad domain", "s1", Algorithm::kEd25519Sha256).is_ok());
  BOOST_TEST(!load_key(dir / "ed.pem", "example.test", "", Algorithm::kEd25519Sha256).is_ok());
}

BOOST_AUTO_TEST_CASE(algorithm_names) {
  BOOST_TEST((parse_algorithm("rsa-sha256") == Algorithm::kRsaSha256));
  BOOST_TEST((parse_algorithm("ed25519-sha256") == Algorithm::kEd25519Sha256));
  BOOST_TEST(!parse_algorithm("rsa-sha1").has_value());
  BOOST_TEST(algorithm_name(Algorithm::kEd25519Sha256) == "ed25519-sha256");
  BOOST_TEST(valid_dns_name("s1._domainkey.example.test"));
  BOOST_TEST(!valid_dns_name("example..test"));
  BOOST_TEST(!valid_dns_name("example.test("));
  BOOST_TEST(!valid_dns_name(std::string(64, 'a') + ".test"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dkim
