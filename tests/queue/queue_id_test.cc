// queue_id_test.cc - queue ID layout, printing, parsing and the generator's order.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "queue/queue_id.h"

namespace hato::queue {
namespace {

constexpr uint32_t kMaxSeq = 0xFFFFFF;

QueueId random_id(std::mt19937_64& rng) {
  QueueId id;
  for (uint8_t& b : id.bytes) b = static_cast<uint8_t>(rng());
  return id;
}

// expect_increasing - each ID sorts after the previous one, as bytes and as text.
void expect_increasing(const std::vector<QueueId>& ids) {
  for (size_t i = 1; i < ids.size(); ++i) {
    BOOST_TEST((ids[i - 1] < ids[i]), "id " << i << " not after its predecessor");
    BOOST_TEST(ids[i - 1].str() < ids[i].str());
    BOOST_TEST((ids[i - 1].key() < ids[i].key()));  // std::string_view order, as RocksDB
  }
}

BOOST_AUTO_TEST_SUITE(queue_id)

BOOST_AUTO_TEST_CASE(layout_is_big_endian) {
  QueueId id = QueueId::make(0x0102030405A6, 0x0708B9, 0x0A);
  const std::array<uint8_t, 10> expected{0x01, 0x02, 0x03, 0x04, 0x05,
                                         0xA6, 0x07, 0x08, 0xB9, 0x0A};
  BOOST_TEST((id.bytes == expected));
  BOOST_TEST(id.time_ms() == 0x0102030405A6);
  BOOST_TEST(id.seq() == 0x0708B9u);
  BOOST_TEST(id.node() == 0x0A);
}

BOOST_AUTO_TEST_CASE(printed_form) {
  BOOST_TEST(QueueId().str() == "0000000000000000");
  QueueId max;
  max.bytes.fill(0xFF);
  BOOST_TEST(max.str() == "ZZZZZZZZZZZZZZZZ");
  // The lowest bit of the milliseconds is bit 47 of 80: character 9, value 4.
  BOOST_TEST(QueueId::make(1, 0, 0).str() == "0000000004000000");
  // The node byte is the last 8 bits: the last two characters carry 3 and 5 bits.
  BOOST_TEST(QueueId::make(0, 0, 0xFF).str() == "000000000000007Z");
  BOOST_TEST(QueueId::make(0, 0, 0x01).str() == "0000000000000001");
}

BOOST_AUTO_TEST_CASE(printed_form_sorts_like_bytes) {
  std::mt19937_64 rng(7);
  std::vector<QueueId> ids;
  for (int i = 0; i < 2000; ++i) ids.push_back(random_id(rng));
  std::sort(ids.begin(), ids.end());
  for (size_t i = 1; i < ids.size(); ++i) {
    if (ids[i - 1] == ids[i]) continue;
    BOOST_TEST(ids[i - 1].str() < ids[i].str());
  }
}

BOOST_AUTO_TEST_CASE(parse_round_trip) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) {
    QueueId id = random_id(rng);
    std::string s = id.str();
    BOOST_TEST_REQUIRE(s.size() == 16u);
    std::optional<QueueId> back = QueueId::parse(s);
    BOOST_TEST_REQUIRE(back.has_value(), s);
    BOOST_TEST((*back == id));
    std::transform(s.begin(), s.end(), s.begin(), [](char c) { return std::tolower(c); });
    back = QueueId::parse(s);
    BOOST_TEST_REQUIRE(back.has_value(), s);
    BOOST_TEST((*back == id));
  }
}

BOOST_AUTO_TEST_CASE(parse_rejects_everything_else) {
  const std::string good = QueueId::make(1764313200123, 42, 3).str();
  BOOST_TEST_REQUIRE(QueueId::parse(good).has_value());
  BOOST_TEST(!QueueId::parse("").has_value());
  BOOST_TEST(!QueueId::parse(good.substr(1)).has_value());
  BOOST_TEST(!QueueId::parse(good + "0").has_value());
  // Characters Crockford leaves out, punctuation, NUL and non-ASCII bytes.
  for (char bad : {'I', 'L', 'O', 'U', 'i', 'l', 'o', 'u', '-', ' ', '\0', '*', '\xc3'}) {
    std::string s = good;
    s[7] = bad;
    BOOST_TEST(!QueueId::parse(s).has_value(), "accepted " << static_cast<int>(bad));
  }
}

BOOST_AUTO_TEST_CASE(key_round_trip) {
  QueueId id = QueueId::make(1764313200123, 99, 1);
  BOOST_TEST(id.key().size() == 10u);
  std::optional<QueueId> back = QueueId::from_key(id.key());
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST((*back == id));
  BOOST_TEST(!QueueId::from_key(id.key().substr(1)).has_value());
  BOOST_TEST(!QueueId::from_key(std::string(id.key()) + "x").has_value());
}

BOOST_AUTO_TEST_CASE(generator_orders_within_and_across_milliseconds) {
  QueueIdGenerator gen(5);
  std::vector<QueueId> ids;
  for (int64_t ms : {1000, 1000, 1000, 1001, 1001, 1005}) ids.push_back(gen.next_at(ms));
  expect_increasing(ids);
  BOOST_TEST(ids[0].time_ms() == 1000);
  BOOST_TEST(ids[0].seq() == 0u);
  BOOST_TEST(ids[2].seq() == 2u);
  BOOST_TEST(ids[3].time_ms() == 1001);
  BOOST_TEST(ids[3].seq() == 0u);
  BOOST_TEST(ids[5].node() == 5);
}

BOOST_AUTO_TEST_CASE(generator_never_goes_back_with_the_clock) {
  QueueIdGenerator gen;
  std::vector<QueueId> ids;
  for (int64_t ms : {5000, 4000, 3000, 5000, 5001}) ids.push_back(gen.next_at(ms));
  expect_increasing(ids);
  BOOST_TEST(ids[2].time_ms() == 5000);
  BOOST_TEST(ids[2].seq() == 2u);
}

BOOST_AUTO_TEST_CASE(generator_sequence_overflow_borrows_next_millisecond) {
  QueueIdGenerator gen;
  gen.seed(QueueId::make(7000, kMaxSeq - 1, 0));
  std::vector<QueueId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(gen.next_at(7000));
  expect_increasing(ids);
  BOOST_TEST(ids[0].time_ms() == 7000);
  BOOST_TEST(ids[0].seq() == kMaxSeq);
  BOOST_TEST(ids[1].time_ms() == 7001);
  BOOST_TEST(ids[1].seq() == 0u);
  // The real clock reaching the borrowed millisecond must not reuse it.
  QueueId next = gen.next_at(7001);
  BOOST_TEST((ids.back() < next));
}

BOOST_AUTO_TEST_CASE(generator_full_sequence_without_seed) {
  // 2^24 IDs in one millisecond, the long way: no wrap, no repeat.
  QueueIdGenerator gen;
  QueueId prev = gen.next_at(1);
  for (uint32_t i = 0; i < kMaxSeq + 2; ++i) {
    QueueId id = gen.next_at(1);
    if (!(prev < id)) {
      BOOST_FAIL("id " << id.str() << " not after " << prev.str());
    }
    prev = id;
  }
  BOOST_TEST(prev.time_ms() == 2);
  BOOST_TEST(prev.seq() == 1u);
}

BOOST_AUTO_TEST_CASE(generator_seeded_with_future_id) {
  // The store holds an ID from a clock that was ahead; the generator must
  // continue after it, not at the (earlier) current time.
  const QueueId future = QueueId::make(9'000'000, 17, 2);
  QueueIdGenerator gen(1);
  gen.seed(future);
  std::vector<QueueId> ids{future};
  for (int i = 0; i < 3; ++i) ids.push_back(gen.next_at(1'000'000));
  ids.push_back(gen.next_at(9'000'001));
  expect_increasing(ids);
  BOOST_TEST(ids[1].time_ms() == 9'000'000);
  BOOST_TEST(ids[1].seq() == 18u);
  // Seeding with an older ID later must not move it back.
  gen.seed(QueueId::make(10, 0, 0));
  BOOST_TEST((ids.back() < gen.next_at(10)));
}

BOOST_AUTO_TEST_CASE(generator_is_thread_safe) {
  QueueIdGenerator gen;
  std::vector<std::vector<QueueId>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& out : per_thread) {
    threads.emplace_back([&gen, &out] {
      for (int i = 0; i < 5000; ++i) out.push_back(gen.next());
    });
  }
  for (auto& t : threads) t.join();
  std::set<QueueId> all;
  for (const auto& out : per_thread) {
    expect_increasing(out);
    all.insert(out.begin(), out.end());
  }
  BOOST_TEST(all.size() == 4u * 5000u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::queue
