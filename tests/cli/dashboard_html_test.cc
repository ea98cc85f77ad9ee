// dashboard_html_test.cc - the dashboard's escaping, form and cookie parsing.
#include <boost/test/unit_test.hpp>

#include "cli/dashboard_html.h"

namespace hato::cli::html {
namespace {

BOOST_AUTO_TEST_SUITE(dashboard_html)

BOOST_AUTO_TEST_CASE(escape_covers_element_and_attribute_text) {
  BOOST_TEST(escape("<a href=\"x\">'&'</a>") ==
             "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  BOOST_TEST(escape("plain text") == "plain text");
}

BOOST_AUTO_TEST_CASE(forms_decode_plus_and_percent) {
  auto form = parse_form("user=ro+ot&password=a%2Bb%26c&csrf=&empty&user=second");
  BOOST_TEST_REQUIRE(form.has_value());
  BOOST_TEST((*form)["user"] == "ro ot");  // the first of a repeated name
  BOOST_TEST((*form)["password"] == "a+b&c");
  BOOST_TEST(form->count("csrf") == 1u);
  BOOST_TEST(form->count("empty") == 1u);
  BOOST_TEST(!parse_form("a=%zz").has_value());
  BOOST_TEST(!parse_form("a=%4").has_value());
  BOOST_TEST(parse_form("")->empty());
}

BOOST_AUTO_TEST_CASE(cookies_are_found_by_exact_name) {
  std::string header = "other_hato_session=x; hato_session=abc ; hato_login=def";
  BOOST_TEST(cookie(header, "hato_session") == "abc");
  BOOST_TEST(cookie(header, "hato_login") == "def");
  BOOST_TEST(cookie(header, "missing").empty());
  BOOST_TEST(cookie("", "hato_session").empty());
}

BOOST_AUTO_TEST_CASE(every_page_with_a_user_has_the_logout_form_with_its_token) {
  std::string out = page("Queue <1>", "root", "tok", "<p>x</p>");
  BOOST_TEST(out.find("<title>Queue &lt;1&gt; - Hato</title>") != std::string::npos);
  BOOST_TEST(out.find("name=\"csrf\" value=\"tok\"") != std::string::npos);
  BOOST_TEST(page("Log in", "", "", "").find("logout") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::cli::html
