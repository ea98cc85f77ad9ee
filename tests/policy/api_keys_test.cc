// api_keys_test.cc - keys for the HTTP API in a real file: a key made is found again by what
// the application presents, its text is never stored, a changed or foreign key matches no
// one, removal takes only the key named, and a damaged file is refused with its line.
#define BOOST_TEST_MODULE policy_api_keys
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "policy/api_keys.h"
#include "tests/temp_dir.h"

namespace hato::policy {
namespace {

using testing::TempDir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

BOOST_AUTO_TEST_CASE(a_key_is_shown_once_stored_hashed_and_found_again) {
  TempDir dir{"hato-api-keys"};
  std::string path = api_keys_path(dir / "users");
  BOOST_TEST(path == dir / "users.keys");
  auto key = add_api_key(path, "app");
  BOOST_TEST_REQUIRE(key.is_ok(), key.message());
  BOOST_TEST(key->starts_with("hato_"));
  BOOST_TEST(key->size() == 5 + 8 + 1 + 40);
  auto other = add_api_key(path, "billing");
  BOOST_TEST_REQUIRE(other.is_ok());
  BOOST_TEST(*other != *key);

  std::string stored = read(path);
  BOOST_TEST(stored.find(key->substr(14)) == std::string::npos);  // the secret is not there
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0640u);

  auto db = ApiKeyDb::load(path);
  BOOST_TEST_REQUIRE(db.is_ok(), db.message());
  BOOST_TEST((*db)->keys().size() == 2u);
  BOOST_TEST((*db)->user_of(*key).value_or("") == "app");
  BOOST_TEST((*db)->user_of(*other).value_or("") == "billing");
  std::string changed = *key;
  changed.back() = changed.back() == 'a' ? 'b' : 'a';
  BOOST_TEST(!(*db)->user_of(changed));
  BOOST_TEST(!(*db)->user_of(""));
  BOOST_TEST(!(*db)->user_of("hato_"));
  BOOST_TEST(!(*db)->user_of("Bearer " + *key));
}

BOOST_AUTO_TEST_CASE(removal_takes_only_the_key_named) {
  TempDir dir{"hato-api-keys-remove"};
  std::string path = api_keys_path(dir / "users");
  auto first = add_api_key(path, "app");
  auto second = add_api_key(path, "app");
  BOOST_TEST_REQUIRE((first.is_ok() && second.is_ok()));
  std::string id = first->substr(5, 8);
  BOOST_TEST(!remove_api_key(path, "billing", id).is_ok());  // not billing's
  BOOST_TEST(remove_api_key(path, "app", id).is_ok());
  BOOST_TEST(!remove_api_key(path, "app", id).is_ok());  // gone already
  auto db = ApiKeyDb::load(path);
  BOOST_TEST_REQUIRE(db.is_ok());
  BOOST_TEST(!(*db)->user_of(*first));
  BOOST_TEST((*db)->user_of(*second).value_or("") == "app");
}

BOOST_AUTO_TEST_CASE(no_file_is_no_keys_and_a_damaged_one_is_refused) {
  TempDir dir{"hato-api-keys-bad"};
  auto none = ApiKeyDb::load(dir / "absent.keys");
  BOOST_TEST_REQUIRE(none.is_ok());
  BOOST_TEST((*none)->keys().empty());
  std::ofstream(dir / "bad.keys") << "# comment\nid:app:tooshort\n";
  auto bad = ApiKeyDb::load(dir / "bad.keys");
  BOOST_TEST_REQUIRE(!bad.is_ok());
  BOOST_TEST(bad.message() == dir / "bad.keys" + ":2:1: expected id:user:sha256");
  BOOST_TEST(!add_api_key(dir / "x.keys", "a:b").is_ok());
}

}  // namespace
}  // namespace hato::policy
