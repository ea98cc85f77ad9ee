// maildir_test.cc - what a Maildir file holds: LF line ends (issue 28), the trace
// fields first, CRs that are content kept; in a real directory.
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "inbound/maildir.h"

namespace hato::inbound {
namespace {

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/hato-maildir-test-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

// The only file in `dir`.
std::string only_file(const std::string& dir) {
  std::string found;
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    found = entry.path();
    ++count;
  }
  BOOST_REQUIRE_EQUAL(count, 1);
  std::ifstream in(found, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

BOOST_AUTO_TEST_CASE(maildir_file_has_lf_line_ends) {
  TempDir root;
  LocalMailbox box{"example.org", "alice"};
  std::string message = "Subject: hello\r\nX-Odd: a\rb\r\n\r\nline one\r\nline two\r\n..dotted\r\n";
  auto s = deliver_maildir(root.path, box, "", "bob@example.net", "alice@example.org", message);
  BOOST_REQUIRE_MESSAGE(s.is_ok(), s.message());
  std::string file = only_file(root.path + "/example.org/alice/new");
  BOOST_TEST(file ==
             "Return-Path: <bob@example.net>\nDelivered-To: alice@example.org\n"
             "Subject: hello\nX-Odd: a\rb\n\nline one\nline two\n..dotted\n");
  BOOST_TEST(file.find("\r\n") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(folder_file_has_lf_line_ends_too) {
  TempDir root;
  LocalMailbox box{"example.org", "alice"};
  auto s = deliver_maildir(root.path, box, "Junk", "", "alice@example.org", "A: b\r\n\r\nc\r\n");
  BOOST_REQUIRE_MESSAGE(s.is_ok(), s.message());
  BOOST_TEST(only_file(root.path + "/example.org/alice/.Junk/new") ==
             "Return-Path: <>\nDelivered-To: alice@example.org\nA: b\n\nc\n");
}

}  // namespace
}  // namespace hato::inbound
