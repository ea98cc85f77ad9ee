// outbox_tail_test.cc - the outbox's newest events in memory: reads from a kept number, none
// before the tail (read RocksDB), a bound in bytes that drops the oldest, trims, and a gap
// that starts the tail over.
#include <boost/test/unit_test.hpp>

#include "queue/outbox_tail.h"

namespace hato::queue {
namespace {

std::vector<uint64_t> seqs(const std::optional<OutboxTail::Events>& events) {
  std::vector<uint64_t> out;
  if (events)
    for (const auto& [seq, json] : *events) out.push_back(seq);
  return out;
}

BOOST_AUTO_TEST_SUITE(outbox_tail)

BOOST_AUTO_TEST_CASE(reads_what_was_appended_from_any_kept_number) {
  OutboxTail tail(5, 1 << 20);
  BOOST_TEST(tail.read(5, 10).has_value());
  BOOST_TEST(tail.read(5, 10)->empty());      // nothing written yet
  BOOST_TEST(!tail.read(4, 10).has_value());  // before the tail: from RocksDB
  tail.append(5, {"e5", "e6", "e7"});
  tail.append(8, {"e8"});
  auto got = tail.read(6, 2);
  BOOST_TEST(seqs(got) == (std::vector<uint64_t>{6, 7}));
  BOOST_TEST((*got)[0].second == "e6");
  BOOST_TEST(seqs(tail.read(5, 100)) == (std::vector<uint64_t>{5, 6, 7, 8}));
  BOOST_TEST(tail.read(9, 10)->empty());
}

BOOST_AUTO_TEST_CASE(bounded_in_bytes_and_trimmed) {
  OutboxTail tail(1, 10);
  tail.append(1, {"aaaa", "bbbb", "cccc"});  // 12 bytes: the first goes
  BOOST_TEST(!tail.read(1, 10).has_value());
  BOOST_TEST(seqs(tail.read(2, 10)) == (std::vector<uint64_t>{2, 3}));
  tail.trim(3);
  BOOST_TEST(!tail.read(2, 10).has_value());
  BOOST_TEST(seqs(tail.read(3, 10)) == (std::vector<uint64_t>{3}));
  tail.trim(4);  // everything acknowledged
  BOOST_TEST(tail.read(4, 10)->empty());
  tail.append(4, {"dd"});
  BOOST_TEST(seqs(tail.read(4, 10)) == (std::vector<uint64_t>{4}));
}

BOOST_AUTO_TEST_CASE(a_gap_starts_the_tail_over) {
  OutboxTail tail(1, 1 << 20);
  tail.append(1, {"a", "b"});
  tail.append(7, {"g"});
  BOOST_TEST(!tail.read(2, 10).has_value());
  BOOST_TEST(seqs(tail.read(7, 10)) == (std::vector<uint64_t>{7}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::queue
