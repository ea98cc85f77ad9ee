// inbound_config_test.cc - the `inbound:` keys the checks read: dnsbl zones with their actions
// and the dmarc mode, with every mistake reported at its position.
#include <boost/test/unit_test.hpp>

#include "conf/config.h"

namespace hato::conf {
namespace {

const std::string kListener = "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n";

std::vector<std::string> errors_of(const std::string& yaml) {
  return load_string(kListener + yaml, "t.yaml").errors;
}

BOOST_AUTO_TEST_SUITE(inbound_config)

BOOST_AUTO_TEST_CASE(defaults_enforce_dmarc_without_dnsbl) {
  auto r = load_string(kListener, "t.yaml");
  BOOST_TEST_REQUIRE(r.ok());
  BOOST_TEST(r.config->inbound.dnsbl.empty());
  BOOST_TEST((r.config->inbound.dmarc == DmarcMode::kEnforce));
  BOOST_TEST((embedded_default("/tmp/x")->inbound.dmarc == DmarcMode::kEnforce));
}

BOOST_AUTO_TEST_CASE(zones_actions_and_mode) {
  auto r = load_string(kListener +
                           "inbound:\n"
                           "  dnsbl:\n"
                           "    - {zone: Zen.Spamhaus.org., action: reject}\n"
                           "    - {zone: bl.example.test, action: mark}\n"
                           "    - {zone: dnsbl.example.test}\n"
                           "  dmarc: report\n",
                       "t.yaml");
  BOOST_TEST_REQUIRE(r.ok());
  const auto& z = r.config->inbound.dnsbl;
  BOOST_TEST_REQUIRE(z.size() == 3u);
  BOOST_TEST(z[0].zone == "zen.spamhaus.org");
  BOOST_TEST((z[0].action == DnsblAction::kReject));
  BOOST_TEST((z[1].action == DnsblAction::kMark));
  BOOST_TEST((z[2].action == DnsblAction::kReject));
  BOOST_TEST((r.config->inbound.dmarc == DmarcMode::kReport));
  // YAML 1.1 would read a bare off as false; yaml-cpp keeps the word, quoted or not.
  for (const char* off : {"off", "\"off\""}) {
    auto o = load_string(kListener + "inbound: {dmarc: " + off + "}\n", "t.yaml");
    BOOST_TEST_REQUIRE(o.ok(), off);
    BOOST_TEST((o.config->inbound.dmarc == DmarcMode::kOff));
  }
}

BOOST_AUTO_TEST_CASE(mistakes_are_reported_where_they_are) {
  BOOST_TEST(errors_of("inbound: {dmarc: strict}\n") ==
             std::vector<std::string>{"t.yaml:2:18: inbound.dmarc: unknown value 'strict' "
                                      "(expected enforce, report or off)"});
  auto e = errors_of(
      "inbound:\n"                              // 2
      "  dnsbl:\n"                              // 3
      "    - {zone: bl.test, action: block}\n"  // 4
      "    - {action: mark}\n"                  // 5
      "    - {zone: \"not a zone\"}\n"          // 6
      "    - {zone: BL.test}\n"                 // 7
      "    - {zone: x.test, acton: mark}\n");   // 8
  BOOST_TEST_REQUIRE(e.size() == 5u);
  BOOST_TEST(e[0].starts_with("t.yaml:4:"));
  BOOST_TEST(e[0].find("unknown value 'block' (expected reject or mark)") != std::string::npos);
  BOOST_TEST(e[1].starts_with("t.yaml:5:"));
  BOOST_TEST(e[1].find("zone") != std::string::npos);
  BOOST_TEST(e[2].starts_with("t.yaml:6:"));
  BOOST_TEST(e[2].find("not a valid DNS zone") != std::string::npos);
  BOOST_TEST(e[3].starts_with("t.yaml:7:"));
  BOOST_TEST(e[3].find("duplicate DNSBL zone 'bl.test'") != std::string::npos);
  BOOST_TEST(e[4].starts_with("t.yaml:8:"));
  BOOST_TEST(e[4].find("acton") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::conf
