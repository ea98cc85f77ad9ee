// auth_test.cc - the users file (hashing, verifying, loading, atomic rewrites)
// and the AuthGuard brake on password guessing.
#include <boost/test/unit_test.hpp>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "policy/auth.h"
#include "tests/temp_dir.h"

namespace hato::policy {
namespace {

// `mkpasswd -m sha-512 secret` (SHA-512-crypt, as an admin would paste it).
const char kSha512Secret[] =
    "$6$mvhx8rpX1CfrJo7q$bKLC1cB16Jh6l51CUNMD20zZAxRRiItBef.A0jyMLZT6WIZ4OR/"
    "EU5RNEYqiNgkfb3JsaqFmmnsfQ9XUI4UuD0";

using testing::TempDir;

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  BOOST_TEST_REQUIRE(out.good());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<const UserDb> load(const std::string& path) {
  auto db = UserDb::load(path);
  BOOST_TEST_REQUIRE(db.is_ok(), db.message());
  return *db;
}

BOOST_AUTO_TEST_SUITE(users)

// The passwords `hato init` and the first start print once: 20 characters, none of the
// look-alikes l O 0 1 I, different every time.
BOOST_AUTO_TEST_CASE(random_password_is_20_unambiguous_characters) {
  std::string a = random_password();
  std::string b = random_password();
  BOOST_TEST(a.size() == 20u);
  BOOST_TEST(a != b);
  for (char c : a + b) {
    BOOST_TEST_INFO("character " << c);
    BOOST_TEST((std::isalnum(static_cast<unsigned char>(c)) &&
                std::string_view("lO01I").find(c) == std::string_view::npos));
  }
}

BOOST_AUTO_TEST_CASE(hash_password_and_verify_round_trip) {
  auto hash = hash_password("correct horse");
  BOOST_TEST_REQUIRE(hash.is_ok(), hash.message());
  BOOST_TEST(hash->rfind("$y$", 0) == 0u, *hash);
  // A new salt every time.
  auto again = hash_password("correct horse");
  BOOST_TEST_REQUIRE(again.is_ok());
  BOOST_TEST(*hash != *again);

  TempDir dir;
  std::string path = dir / ("users");
  write_file(path, "alice:" + *hash + "\nbob:" + *again + "\n");
  auto db = load(path);
  BOOST_TEST(db->verify("alice", "correct horse"));
  BOOST_TEST(db->verify("bob", "correct horse"));
}

BOOST_AUTO_TEST_CASE(wrong_password_and_unknown_user_fail) {
  auto hash = hash_password("right");
  BOOST_TEST_REQUIRE(hash.is_ok());
  TempDir dir;
  write_file(dir / ("users"), "alice:" + *hash + "\n");
  auto db = load(dir / ("users"));
  BOOST_TEST(!db->verify("alice", "wrong"));
  BOOST_TEST(!db->verify("alice", ""));
  BOOST_TEST(!db->verify("alice", "right "));
  BOOST_TEST(!db->verify("Alice", "right"));  // names are exact
  BOOST_TEST(!db->verify("mallory", "right"));
  BOOST_TEST(!db->verify("", ""));
}

BOOST_AUTO_TEST_CASE(sha512_crypt_from_mkpasswd_verifies) {
  TempDir dir;
  write_file(dir / ("users"), std::string("# made with mkpasswd\nops:") + kSha512Secret + "\n");
  auto db = load(dir / ("users"));
  BOOST_TEST(db->contains("ops"));
  BOOST_TEST(db->verify("ops", "secret"));
  BOOST_TEST(!db->verify("ops", "Secret"));
}

BOOST_AUTO_TEST_CASE(locked_or_garbage_hashes_never_verify) {
  TempDir dir;
  write_file(dir / ("users"), "locked:!\nstar:*\njunk:$6$\nempty-ish:x\n");
  auto db = load(dir / ("users"));
  for (const char* user : {"locked", "star", "junk", "empty-ish"}) {
    BOOST_TEST(db->contains(user));
    BOOST_TEST(!db->verify(user, ""), user);
    BOOST_TEST(!db->verify(user, "x"), user);
  }
}

BOOST_AUTO_TEST_CASE(load_skips_comments_blank_lines_and_cr) {
  TempDir dir;
  write_file(dir / ("users"),
             std::string("# users\r\n\r\nops:") + kSha512Secret + "\r\n\nzed:hash\nann:hash\n");
  auto db = load(dir / ("users"));
  BOOST_TEST(db->names() == (std::vector<std::string>{"ann", "ops", "zed"}),
             boost::test_tools::per_element());
  BOOST_TEST(db->verify("ops", "secret"));  // the CR is not part of the hash
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_empty_database) {
  TempDir dir;
  auto db = load(dir / ("absent"));
  BOOST_TEST(db->names().empty());
  BOOST_TEST(!db->verify("alice", "x"));
}

BOOST_AUTO_TEST_CASE(bad_lines_are_errors_with_their_position) {
  TempDir dir;
  const std::pair<const char*, int> kBad[] = {
      {"# ok\nnocolon\n", 2}, {":hash\n", 1}, {"ok:h\n\nname:\n", 3}};
  for (const auto& [content, line] : kBad) {
    std::string path = dir / ("users");
    write_file(path, content);
    auto db = UserDb::load(path);
    BOOST_TEST_REQUIRE(!db.is_ok(), content);
    BOOST_TEST(db.message() == path + ":" + std::to_string(line) + ":1: expected name:hash");
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(write_users_file)

BOOST_AUTO_TEST_CASE(add_replace_remove) {
  TempDir dir;
  std::string path = dir / ("users");
  mode_t old_umask = umask(022);
  BOOST_TEST(write_user(path, "alice", "h1").is_ok());  // creates the file
  umask(old_umask);
  BOOST_TEST(read_file(path) == "alice:h1\n");
  struct stat st;
  BOOST_TEST_REQUIRE(stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0640u);

  BOOST_TEST(write_user(path, "bob", "h2").is_ok());
  BOOST_TEST(read_file(path) == "alice:h1\nbob:h2\n");
  BOOST_TEST(write_user(path, "alice", "h3").is_ok());  // replaced in place
  BOOST_TEST(read_file(path) == "alice:h3\nbob:h2\n");
  BOOST_TEST(write_user(path, "alice", "").is_ok());  // removed
  BOOST_TEST(read_file(path) == "bob:h2\n");
  BOOST_TEST(write_user(path, "bob", "").is_ok());
  BOOST_TEST(read_file(path) == "");
  BOOST_TEST(!std::filesystem::exists(path + ".tmp"));
}

BOOST_AUTO_TEST_CASE(round_trip_through_the_database) {
  TempDir dir;
  std::string path = dir / ("users");
  auto hash = hash_password("pw-alice");
  BOOST_TEST_REQUIRE(hash.is_ok());
  BOOST_TEST(write_user(path, "alice", *hash).is_ok());
  BOOST_TEST(write_user(path, "ops", kSha512Secret).is_ok());
  auto db = load(path);
  BOOST_TEST(db->verify("alice", "pw-alice"));
  BOOST_TEST(db->verify("ops", "secret"));
  BOOST_TEST(write_user(path, "alice", "").is_ok());
  auto after = load(path);
  BOOST_TEST(!after->contains("alice"));
  BOOST_TEST(!after->verify("alice", "pw-alice"));
  BOOST_TEST(after->verify("ops", "secret"));
}

BOOST_AUTO_TEST_CASE(comments_kept_blank_lines_dropped) {
  TempDir dir;
  std::string path = dir / ("users");
  write_file(path, "# admins\n\nalice:h1\n\n# apps\napp:h2\n");
  BOOST_TEST(write_user(path, "app", "h3").is_ok());
  BOOST_TEST(read_file(path) == "# admins\nalice:h1\n# apps\napp:h3\n");
}

BOOST_AUTO_TEST_CASE(a_name_that_prefixes_another_is_not_it) {
  TempDir dir;
  std::string path = dir / ("users");
  write_file(path, "alice2:h1\n");
  BOOST_TEST(write_user(path, "alice", "h2").is_ok());
  BOOST_TEST(read_file(path) == "alice2:h1\nalice:h2\n");
  BOOST_TEST(!write_user(path, "alic", "").is_ok());
}

BOOST_AUTO_TEST_CASE(errors) {
  TempDir dir;
  std::string path = dir / ("users");
  write_file(path, "alice:h1\n");
  Status s = write_user(path, "nobody", "");
  BOOST_TEST(!s.is_ok());
  BOOST_TEST(s.message() == "no such user: nobody");
  for (const char* bad : {"", "a:b", "a\nb", "a\rb"}) {
    Status b = write_user(path, bad, "h");
    BOOST_TEST(!b.is_ok(), bad);
    BOOST_TEST(b.message() == "user names cannot be empty or contain ':' or line breaks");
  }
  BOOST_TEST(read_file(path) == "alice:h1\n");
  Status nodir = write_user(dir / ("missing/users"), "alice", "h");
  BOOST_TEST(!nodir.is_ok());
  BOOST_TEST(nodir.message().rfind("cannot write ", 0) == 0u, nodir.message());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(auth_guard)

BOOST_AUTO_TEST_CASE(delays_grow_and_cap) {
  AuthGuard guard;
  const long kExpected[] = {1000, 2000, 4000, 8000, 16000, 16000, 16000};
  for (long ms : kExpected) BOOST_TEST(guard.failure("192.0.2.1", "alice").count() == ms);
  BOOST_TEST(guard.failures("192.0.2.1") == 7u);
}

BOOST_AUTO_TEST_CASE(blocked_after_ten_failures) {
  AuthGuard guard;
  for (int i = 1; i <= 9; ++i) {
    guard.failure("192.0.2.1", "alice");
    BOOST_TEST(!guard.blocked("192.0.2.1"), "after " << i);
  }
  guard.failure("192.0.2.1", "alice");
  BOOST_TEST(guard.blocked("192.0.2.1"));
  BOOST_TEST(guard.failures("192.0.2.1") == 10u);
  BOOST_TEST(guard.failure("192.0.2.1", "alice").count() == 16000);
  BOOST_TEST(guard.blocked("192.0.2.1"));
}

BOOST_AUTO_TEST_CASE(clients_are_counted_apart) {
  AuthGuard guard;
  for (int i = 0; i < 12; ++i) guard.failure("192.0.2.1", "alice");
  BOOST_TEST(guard.blocked("192.0.2.1"));
  BOOST_TEST(!guard.blocked("192.0.2.2"));
  BOOST_TEST(guard.failures("192.0.2.2") == 0u);
  BOOST_TEST(guard.failure("192.0.2.2", "alice").count() == 1000);
}

BOOST_AUTO_TEST_CASE(success_forgets_the_failures) {
  AuthGuard guard;
  for (int i = 0; i < 4; ++i) guard.failure("2001:db8::1", "alice");
  guard.success("2001:db8::1", "alice");
  BOOST_TEST(guard.failures("2001:db8::1") == 0u);
  BOOST_TEST(!guard.blocked("2001:db8::1"));
  BOOST_TEST(guard.failure("2001:db8::1", "alice").count() == 1000);
  guard.success("never-failed", "alice");  // harmless
  BOOST_TEST(guard.failures("never-failed") == 0u);
}

BOOST_AUTO_TEST_CASE(a_login_of_ones_own_between_guesses_buys_no_more_guesses) {
  // Issue 29: the attacker owns "mallory" and guesses at "alice", logging in as mallory
  // after every guess. Only mallory's own failures (none) may be forgiven.
  AuthGuard guard;
  const std::string client = "192.0.2.9";
  int guesses = 0;
  while (!guard.blocked(client) && guesses < 100) {
    guard.failure(client, "alice");
    ++guesses;
    guard.success(client, "mallory");
  }
  BOOST_TEST(guesses == 10);
  BOOST_TEST(guard.failures(client, "alice") == 10u);
  BOOST_TEST(!guard.may_begin(client));
}

BOOST_AUTO_TEST_CASE(a_success_clears_only_that_users_own_failures_from_that_address) {
  AuthGuard guard;
  for (int i = 0; i < 2; ++i) guard.failure("192.0.2.1", "bob");
  for (int i = 0; i < 3; ++i) guard.failure("192.0.2.1", "alice");
  guard.failure("192.0.2.2", "alice");
  guard.success("192.0.2.1", "alice");  // alice found her password
  BOOST_TEST(guard.failures("192.0.2.1") == 2u);
  BOOST_TEST(guard.failures("192.0.2.1", "alice") == 0u);
  BOOST_TEST(guard.failures("192.0.2.1", "bob") == 2u);
  BOOST_TEST(guard.failures("192.0.2.2") == 1u);
  BOOST_TEST(guard.failures("192.0.2.2", "alice") == 1u);
  // The next failure from the address is the third, and slowed as such.
  BOOST_TEST(guard.failure("192.0.2.1", "bob").count() == 4000);
}

BOOST_AUTO_TEST_CASE(many_clients) {
  // Past 10000 entries old ones are expired; recent ones must survive.
  AuthGuard guard;
  for (int i = 0; i < 10050; ++i)
    guard.failure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), "alice");
  BOOST_TEST(guard.failures("10.0.0.0") == 1u);
  BOOST_TEST(guard.failures("10.0.39.65") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy
