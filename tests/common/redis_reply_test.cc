// redis_reply_test.cc - the RESP2 parser: every reply type, replies cut at every byte
// (incomplete, never wrong), and data that is not RESP2.
#include <boost/test/unit_test.hpp>

#include <string>

#include "common/redis_client.h"

namespace hato {
namespace {

BOOST_AUTO_TEST_SUITE(redis_reply)

BOOST_AUTO_TEST_CASE(each_type) {
  RedisReply r;
  BOOST_TEST(parse_redis_reply("+OK\r\n", &r) == 5);
  BOOST_TEST((r.type == RedisReply::Type::kStatus && r.text == "OK"));
  BOOST_TEST(parse_redis_reply("-ERR no\r\n", &r) == 9);
  BOOST_TEST((r.type == RedisReply::Type::kError && r.text == "ERR no" && !r.ok()));
  BOOST_TEST(parse_redis_reply(":-42\r\n", &r) == 6);
  BOOST_TEST((r.type == RedisReply::Type::kInteger && r.integer == -42));
  BOOST_TEST(parse_redis_reply("$5\r\na\r\nbc\r\n", &r) == 11);
  BOOST_TEST((r.type == RedisReply::Type::kBulk && r.text == "a\r\nbc"));
  BOOST_TEST(parse_redis_reply("$-1\r\n", &r) == 5);
  BOOST_TEST((r.type == RedisReply::Type::kNil));
  BOOST_TEST(parse_redis_reply("*2\r\n:3\r\n*1\r\n$0\r\n\r\n", &r) == 18);
  BOOST_TEST((r.type == RedisReply::Type::kArray && r.elements.size() == 2));
  BOOST_TEST(r.elements[0].integer == 3);
  BOOST_TEST((r.elements[1].elements.size() == 1 && r.elements[1].elements[0].text.empty()));
}

BOOST_AUTO_TEST_CASE(incomplete_at_every_cut) {
  const std::string whole = "*3\r\n$3\r\nfoo\r\n:7\r\n*1\r\n+x\r\n";
  for (size_t n = 0; n < whole.size(); ++n) {
    RedisReply r;
    BOOST_TEST(parse_redis_reply(whole.substr(0, n), &r) == 0, "cut at " << n);
  }
  RedisReply r;
  BOOST_TEST(parse_redis_reply(whole + "+next\r\n", &r) == static_cast<long>(whole.size()));
  BOOST_TEST(r.elements.at(0).text == "foo");
}

BOOST_AUTO_TEST_CASE(not_resp) {
  RedisReply r;
  BOOST_TEST(parse_redis_reply("?\r\n", &r) == -1);
  BOOST_TEST(parse_redis_reply(":12x\r\n", &r) == -1);
  BOOST_TEST(parse_redis_reply("$-2\r\n", &r) == -1);
  BOOST_TEST(parse_redis_reply(std::string(2000, 'a'), &r) == -1);  // no line end in sight
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "*1\r\n";
  BOOST_TEST(parse_redis_reply(deep + ":1\r\n", &r) == -1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato
