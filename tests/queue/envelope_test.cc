// envelope_test.cc - the envelope encoding: round trips, and refusal of bad input.
#define BOOST_TEST_MODULE queue
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>

#include "queue/envelope.h"

namespace hato::queue {
namespace {

// An envelope with every field set away from its default, including values
// whose varints need several bytes and strings with bytes that are not text.
Envelope full_envelope() {
  Envelope e;
  e.sender = "bounce+x=y@example.test";
  e.created_ms = 1764313200123;
  e.next_attempt_ms = 1764313500456;
  e.state = MessageState::kDeferred;
  e.size = 5'000'000'000;
  e.ret = "HDRS";
  e.envid = std::string("env\0id=", 7) + std::string(300, 'e');
  e.smtputf8 = true;
  e.eight_bit = true;
  e.delay_warned = true;
  e.auth_user = "alice";
  e.client = "mail.example.test [192.0.2.7]";
  e.listener = "submission";
  e.folder = "Junk";

  Recipient a;
  a.address = "b\xc3\xbc@example.test";
  a.orcpt = "rfc822;bob@example.test";
  a.notify = kNotifyFailure | kNotifyDelay;
  a.state = RcptState::kPending;
  a.attempts.push_back({1764313300000, "mx1.example.test[192.0.2.1]", "451 4.7.1 try later",
                        "mta-sts", "TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  a.attempts.push_back({-5, "", std::string(200, 'r'), "", "", ""});
  a.attempts.back().category = "reputation-block";
  e.recipients.push_back(a);

  Recipient b;
  b.address = "carol@example.test";
  b.notify = kNotifyNever;
  b.state = RcptState::kBounced;
  e.recipients.push_back(b);

  Recipient c;
  c.address = "dave@example.test";
  c.notify = kNotifySuccess;
  c.state = RcptState::kExpired;
  e.recipients.push_back(c);

  Recipient d;
  d.address = "erin@example.test";
  d.state = RcptState::kDelivered;
  d.attempts.push_back({1764313400000, "local", "delivered to maildir", "", "", ""});
  e.recipients.push_back(d);
  return e;
}

BOOST_AUTO_TEST_SUITE(envelope)

BOOST_AUTO_TEST_CASE(round_trip_keeps_every_field) {
  Envelope e = full_envelope();
  std::string bytes = encode(e);
  BOOST_TEST(bytes[0] == '\x04');  // the format version leads
  Result<Envelope> back = decode(bytes);
  BOOST_TEST_REQUIRE(back.is_ok(), back.status().message());
  BOOST_TEST((*back == e));
  BOOST_TEST(back->recipients.size() == 4u);
  BOOST_TEST(back->recipients[0].attempts[1].time_ms == -5);
  BOOST_TEST(back->envid == e.envid);
  BOOST_TEST(encode(*back) == bytes);
}

BOOST_AUTO_TEST_CASE(round_trip_of_defaults) {
  Envelope e;
  Result<Envelope> back = decode(encode(e));
  BOOST_TEST_REQUIRE(back.is_ok(), back.status().message());
  BOOST_TEST((*back == e));
}

BOOST_AUTO_TEST_CASE(round_trip_of_extreme_numbers) {
  Envelope e;
  e.created_ms = INT64_MIN;
  e.next_attempt_ms = INT64_MAX;
  e.size = UINT64_MAX;
  Result<Envelope> back = decode(encode(e));
  BOOST_TEST_REQUIRE(back.is_ok(), back.status().message());
  BOOST_TEST((*back == e));
}

BOOST_AUTO_TEST_CASE(every_truncation_fails) {
  std::string bytes = encode(full_envelope());
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<Envelope> r = decode(std::string_view(bytes).substr(0, n));
    BOOST_TEST(!r.is_ok(), "prefix of " << n << " bytes decoded");
  }
}

// Versions 1 and 2 had no TLS facts in attempts: without attempts the layout is the same.
Envelope without_attempts() {
  Envelope e = full_envelope();
  for (auto& r : e.recipients) r.attempts.clear();
  return e;
}

BOOST_AUTO_TEST_CASE(version_3_records_still_read) {
  // Version 3 had no category in attempts: one attempt, last in the record, whose empty
  // category is the last byte.
  Envelope e;
  e.sender = "app@example.test";
  Recipient r;
  r.address = "bob@example.test";
  r.attempts.push_back({1764313300000, "mx1.example.test[192.0.2.1]", "451 4.7.1 try later",
                        "mta-sts", "TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  e.recipients.push_back(r);
  std::string v3 = encode(e);
  BOOST_TEST_REQUIRE(v3.back() == '\0');
  v3.pop_back();
  v3[0] = '\x03';
  Result<Envelope> back = decode(v3);
  BOOST_TEST_REQUIRE(back.is_ok(), back.status().message());
  BOOST_TEST((*back == e));
  BOOST_TEST(back->recipients[0].attempts[0].category.empty());
  // And the category round-trips in version 4.
  e.recipients[0].attempts[0].category = "invalid-recipient";
  Result<Envelope> v4 = decode(encode(e));
  BOOST_TEST_REQUIRE(v4.is_ok(), v4.status().message());
  BOOST_TEST(v4->recipients[0].attempts[0].category == "invalid-recipient");
}

BOOST_AUTO_TEST_CASE(version_2_records_still_read) {
  Envelope e = without_attempts();
  std::string v2 = encode(e);
  v2[0] = '\x02';
  Result<Envelope> back = decode(v2);
  BOOST_TEST_REQUIRE(back.is_ok(), back.status().message());
  BOOST_TEST((*back == e));
}

BOOST_AUTO_TEST_CASE(version_1_records_still_read) {
  // Version 1 had no folder: the same bytes without that string.
  Envelope e = without_attempts();
  e.folder.clear();
  std::string v2 = encode(e);
  std::string listener_end = e.listener;
  auto at = v2.find(listener_end);
  BOOST_TEST_REQUIRE(at != std::string::npos);
  std::string v1 = v2;
  v1[0] = '\x01';
  v1.erase(at + listener_end.size(), 1);  // the empty folder's length byte
  Result<Envelope> back = decode(v1);
  BOOST_TEST_REQUIRE(back.is_ok(), back.status().message());
  BOOST_TEST((*back == e));
}

BOOST_AUTO_TEST_CASE(trailing_bytes_fail) {
  std::string bytes = encode(full_envelope()) + '\0';
  BOOST_TEST(!decode(bytes).is_ok());
}

BOOST_AUTO_TEST_CASE(unknown_version_fails) {
  std::string bytes = encode(full_envelope());
  bytes[0] = '\x05';
  Result<Envelope> r = decode(bytes);
  BOOST_TEST_REQUIRE(!r.is_ok());
  BOOST_TEST(r.status().message().find("version") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(out_of_range_values_fail) {
  // Empty sender and zero times put the state byte at offset 4.
  const std::string base = encode(Envelope());
  BOOST_TEST_REQUIRE(decode(base).is_ok());
  std::string bad_state = base;
  bad_state[4] = '\x03';
  BOOST_TEST(!decode(bad_state).is_ok());

  // Flags follow size and two empty strings: offset 8.
  std::string bad_flags = base;
  bad_flags[8] = '\x08';
  BOOST_TEST(!decode(bad_flags).is_ok());

  Envelope e;
  e.recipients.emplace_back().address = "a";
  std::string bytes = encode(e);
  // base ends with the recipient count; notify follows the address and orcpt.
  size_t notify_at = base.size() + 2 + 1;
  bytes[notify_at] = '\x10';
  BOOST_TEST(!decode(bytes).is_ok());
  bytes[notify_at] = '\x00';
  bytes[notify_at + 1] = '\x04';  // recipient state past kExpired
  BOOST_TEST(!decode(bytes).is_ok());
}

BOOST_AUTO_TEST_CASE(huge_lengths_and_counts_fail) {
  // A sender length near 2^64 must not be trusted.
  std::string bytes("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  BOOST_TEST(!decode(bytes).is_ok());
  // A varint of eleven bytes is garbled.
  std::string long_varint("\x01", 1);
  long_varint.append(10, '\x80');
  long_varint += '\x00';
  BOOST_TEST(!decode(long_varint).is_ok());
  // A recipient count far beyond the bytes left.
  std::string count = encode(Envelope());
  count.pop_back();
  count += "\xff\xff\xff\xff\x0f";
  BOOST_TEST(!decode(count).is_ok());
}

BOOST_AUTO_TEST_CASE(random_damage_never_crashes) {
  // A small in-process fuzz: whatever decodes must re-encode to a valid record.
  const std::string good = encode(full_envelope());
  std::mt19937 rng(20261128);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes.erase(at, 1 + rng() % 8);
          break;
        case 2:
          bytes.insert(at, 1, static_cast<char>(rng()));
          break;
      }
      if (bytes.empty()) bytes = "x";
    }
    Result<Envelope> r = decode(bytes);
    if (r.is_ok()) BOOST_TEST_REQUIRE(decode(encode(*r)).is_ok());
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::queue
