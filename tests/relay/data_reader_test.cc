// data_reader_test.cc - the DATA phase: where a message ends, dot unstuffing,
// the same result however the bytes are split, smuggling sequences (a bare CR
// or LF never ends a message; a bare CR always refuses it, a bare LF refuses it
// under bare_lf: reject and is stored as CRLF under normalize), and the line
// and size limits.
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

#include "relay/data_reader.h"

namespace hato::relay {
namespace {

constexpr uint64_t kBig = 1 << 20;

// What a reader did with one input.
struct Outcome {
  std::string body;
  size_t used = 0;
  bool done = false;
  bool bare_newline = false;
  bool line_too_long = false;
  bool too_big = false;
  uint64_t received = 0;
};

// Feeds `in` in pieces of the given sizes (the rest in one piece), stopping
// once the reader is done as the session does.
Outcome feed(std::string_view in, const std::vector<size_t>& pieces, uint64_t max = kBig,
             conf::BareLf mode = conf::BareLf::kReject) {
  Outcome out;
  DataReader reader(max, &out.body, mode);
  size_t pos = 0;
  size_t i = 0;
  while (pos < in.size() && !reader.done()) {
    size_t n = i < pieces.size() ? pieces[i++] : in.size() - pos;
    n = std::min(n, in.size() - pos);
    size_t used = reader.consume(in.substr(pos, n));
    BOOST_TEST_REQUIRE(used <= n);
    // Until the end every byte offered is taken.
    if (!reader.done()) BOOST_TEST_REQUIRE(used == n);
    pos += used;
  }
  out.used = pos;
  out.done = reader.done();
  out.bare_newline = reader.bare_newline();
  out.line_too_long = reader.line_too_long();
  out.too_big = reader.too_big();
  out.received = reader.received();
  return out;
}

Outcome feed_whole(std::string_view in, uint64_t max = kBig) {
  return feed(in, {}, max);
}

Outcome feed_bytewise(std::string_view in, conf::BareLf mode = conf::BareLf::kReject) {
  return feed(in, std::vector<size_t>(in.size(), 1), kBig, mode);
}

Outcome normalized(std::string_view in) {
  return feed(in, {}, kBig, conf::BareLf::kNormalize);
}

// require_ended - the whole-input run a split run is compared with must itself have ended,
// having taken the `length` bytes of the message: two readers that never end agree too.
void require_ended(const Outcome& whole, size_t length) {
  BOOST_TEST_REQUIRE(whole.done);
  BOOST_TEST_REQUIRE(whole.used == length);
}

void check_same(const Outcome& a, const Outcome& b, const std::string& what) {
  BOOST_TEST(a.body == b.body, what);
  BOOST_TEST(a.used == b.used, what);
  BOOST_TEST(a.done == b.done, what);
  BOOST_TEST(a.bare_newline == b.bare_newline, what);
  BOOST_TEST(a.line_too_long == b.line_too_long, what);
  BOOST_TEST(a.too_big == b.too_big, what);
}

const std::string kMessage =
    "From: <alice@example.org>\r\n"
    "Subject: dots\r\n"
    "\r\n"
    "..leading dot was stuffed\r\n"
    "...two dots\r\n"
    ". \r\n"
    "middle.dot.\r\n"
    "..\r\n"
    "last line\r\n"
    ".\r\n";
const std::string kBody =
    "From: <alice@example.org>\r\n"
    "Subject: dots\r\n"
    "\r\n"
    ".leading dot was stuffed\r\n"
    "..two dots\r\n"
    " \r\n"
    "middle.dot.\r\n"
    ".\r\n"
    "last line\r\n";

BOOST_AUTO_TEST_SUITE(data_reader)

BOOST_AUTO_TEST_CASE(normal_message_dot_stuffing_undone) {
  Outcome out = feed_whole(kMessage);
  BOOST_TEST(out.done);
  BOOST_TEST(out.body == kBody);
  BOOST_TEST(out.used == kMessage.size());
  BOOST_TEST(out.received == kMessage.size());
  BOOST_TEST(!out.bare_newline);
  BOOST_TEST(!out.line_too_long);
  BOOST_TEST(!out.too_big);
}

BOOST_AUTO_TEST_CASE(byte_at_a_time_gives_the_same_result) {
  Outcome whole = feed_whole(kMessage);
  require_ended(whole, kMessage.size());
  Outcome bytes = feed_bytewise(kMessage);
  BOOST_TEST(bytes.done);
  check_same(whole, bytes, "byte at a time");
}

BOOST_AUTO_TEST_CASE(random_splits_give_the_same_result) {
  const std::string in = kMessage + "MAIL FROM:<next@example.org>\r\n";
  Outcome whole = feed_whole(in);
  require_ended(whole, kMessage.size());
  std::mt19937 rng(20261128);
  for (int round = 0; round < 300; ++round) {
    std::vector<size_t> pieces;
    std::uniform_int_distribution<size_t> size(1, round % 3 == 0 ? 3 : 40);
    for (size_t total = 0; total < in.size();) {
      pieces.push_back(size(rng));
      total += pieces.back();
    }
    check_same(whole, feed(in, pieces), "round " + std::to_string(round));
  }
}

BOOST_AUTO_TEST_CASE(every_single_split_point_of_the_end) {
  // "\r\n.\r\n" cut between any two of its bytes still ends the message.
  const std::string message = "body\r\n.\r\n";
  const std::string in = message + "QUIT\r\n";
  Outcome whole = feed_whole(in);
  require_ended(whole, message.size());
  for (size_t cut = 1; cut < in.size(); ++cut)
    check_same(whole, feed(in, {cut}), "cut at " + std::to_string(cut));
}

BOOST_AUTO_TEST_CASE(lone_dot_as_first_line_ends_at_once) {
  Outcome out = feed_whole(".\r\n");
  BOOST_TEST(out.done);
  BOOST_TEST(out.body.empty());
  BOOST_TEST(out.used == 3u);
  BOOST_TEST(!out.bare_newline);
  Outcome bytes = feed_bytewise(".\r\n");
  BOOST_TEST(bytes.done);
  BOOST_TEST(bytes.body.empty());
}

BOOST_AUTO_TEST_CASE(pipelined_bytes_after_the_end_stay_unconsumed) {
  const std::string message = "Subject: x\r\n\r\nhi\r\n.\r\n";
  const std::string next = "MAIL FROM:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n";
  std::string body;
  DataReader reader(kBig, &body, conf::BareLf::kNormalize);
  size_t used = reader.consume(message + next);
  BOOST_TEST(reader.done());
  BOOST_TEST(used == message.size());
  BOOST_TEST(body == "Subject: x\r\n\r\nhi\r\n");
  // A done reader takes nothing more.
  BOOST_TEST(reader.consume(next) == 0u);
  BOOST_TEST(body == "Subject: x\r\n\r\nhi\r\n");
}

BOOST_AUTO_TEST_CASE(dot_not_alone_does_not_end) {
  for (const char* line : {". \r\n", ".x\r\n", "..\r\n", " .\r\n", ".\t\r\n"}) {
    Outcome out = feed_whole(std::string("a\r\n") + line);
    BOOST_TEST(!out.done, line);
  }
}

BOOST_AUTO_TEST_CASE(empty_lines_and_empty_body) {
  Outcome out = feed_whole("\r\n\r\n\r\n.\r\n");
  BOOST_TEST(out.done);
  BOOST_TEST(out.body == "\r\n\r\n\r\n");
}

// Each sequence a lax parser may take for the end of data. None of them ends
// the message here, and each marks it for refusal; the real end does end it.
const std::pair<const char*, std::string> kSmuggling[] = {
    {"LF . LF", "\n.\n"}, {"LF . CRLF", "\n.\r\n"}, {"CR . CR", "\r.\r"}, {"CRLF . LF", "\r\n.\n"},
    {"CR . LF", "\r.\n"}, {"CRLF . CR", "\r\n.\r"}, {"LF . CR", "\n.\r"},
};
const std::string kSmuggled =
    "MAIL FROM:<evil@example.org>\r\n"
    "RCPT TO:<victim@example.net>\r\n"
    "DATA\r\n"
    "Subject: smuggled\r\n"
    "\r\n"
    "smuggled body\r\n";

BOOST_AUTO_TEST_CASE(smuggling_sequences_never_end_the_message) {
  for (const auto& [name, seq] : kSmuggling) {
    const std::string carrier = "Subject: carrier\r\n\r\nfirst part" + seq + kSmuggled;
    const std::string in = carrier + "\r\n.\r\n";
    for (int mode = 0; mode < 2; ++mode) {
      Outcome out = mode == 0 ? feed_whole(in) : feed_bytewise(in);
      std::string what = std::string(name) + (mode == 0 ? " whole" : " bytewise");
      BOOST_TEST(out.bare_newline, what);
      // It ends only at the real <CRLF>.<CRLF>, having consumed everything.
      BOOST_TEST(out.done, what);
      BOOST_TEST(out.used == in.size(), what);
    }
    // Before the real end arrives the message is still open.
    Outcome open = feed_whole(carrier);
    BOOST_TEST(!open.done, name << ": ended early");
    BOOST_TEST(open.bare_newline, name);
  }
}

BOOST_AUTO_TEST_CASE(smuggling_sequence_right_after_data_line) {
  // The DATA line's CRLF counts: a bare LF then "." must not end it either.
  const std::pair<const char*, const char*> kInputs[] = {
      {"LF . CRLF", "\n.\r\n"}, {"CR . CRLF", "\r.\r\n"}, {"x LF . CRLF", "x\n.\r\n"}};
  for (const auto& [name, in] : kInputs) {
    Outcome out = feed_whole(in);
    BOOST_TEST(!out.done, name << ": ended");
    BOOST_TEST(out.bare_newline, name);
  }
}

BOOST_AUTO_TEST_CASE(bare_newlines_in_the_body_are_flagged) {
  for (const char* body : {"a\nb\r\n", "a\rb\r\n", "a\r\r\n", "Subject: x\n\r\nbody\r\n"}) {
    Outcome out = feed_whole(std::string(body) + ".\r\n");
    BOOST_TEST(out.done, body);
    BOOST_TEST(out.bare_newline, body);
    BOOST_TEST(out.body.empty(), "a refused message keeps no body");
  }
}

BOOST_AUTO_TEST_CASE(line_of_1000_octets_is_fine_1001_is_too_long) {
  std::string ok = std::string(998, 'a') + "\r\n";
  Outcome fine = feed_whole(ok + ".\r\n");
  BOOST_TEST(fine.done);
  BOOST_TEST(!fine.line_too_long);
  BOOST_TEST(fine.body == ok);

  std::string long_line = std::string(999, 'a') + "\r\n";
  for (int mode = 0; mode < 2; ++mode) {
    Outcome out = mode == 0 ? feed_whole(long_line + ".\r\n") : feed_bytewise(long_line + ".\r\n");
    BOOST_TEST(out.done);
    BOOST_TEST(out.line_too_long);
    BOOST_TEST(!out.bare_newline);
    BOOST_TEST(out.body.empty());
  }
}

BOOST_AUTO_TEST_CASE(stuffed_dot_counts_towards_the_line_length) {
  // 1001 octets on the wire, 1000 after unstuffing: the wire length counts.
  Outcome out = feed_whole("." + std::string(998, 'a') + "\r\n.\r\n");
  BOOST_TEST(out.done);
  BOOST_TEST(out.line_too_long);
}

BOOST_AUTO_TEST_CASE(long_line_tail_dot_crlf_does_not_end) {
  // The tail of an over-long line is not a line of its own, even when the
  // reader had to drop the start of the line.
  const std::string head(5000, 'x');
  for (size_t first : {head.size(), head.size() + 1, size_t{1001}, size_t{1500}, size_t{4999}}) {
    const std::string in = head + ".\r\n";
    Outcome out = feed(in, {first});
    BOOST_TEST(!out.done, "first piece " << first);
    BOOST_TEST(out.line_too_long);
    BOOST_TEST(out.body.empty());
    // The real end still ends it.
    Outcome ended = feed(in + ".\r\n", {first});
    BOOST_TEST(ended.done, "first piece " << first);
    BOOST_TEST(ended.line_too_long);
  }
  Outcome bytes = feed_bytewise(head + ".\r\n");
  BOOST_TEST(!bytes.done);
  Outcome bytes_cr = feed(head + ".\r\n", {5001, 1});  // CR kept across the cut
  BOOST_TEST(!bytes_cr.done);
}

BOOST_AUTO_TEST_CASE(long_line_hides_no_bare_cr) {
  std::string in = std::string(600, 'x') + "\r" + std::string(600, 'y');
  Outcome out = feed(in + "\r\n.\r\n", {in.size()});
  BOOST_TEST(out.done);
  BOOST_TEST(out.bare_newline);
  BOOST_TEST(out.line_too_long);
}

BOOST_AUTO_TEST_CASE(nul_is_flagged_and_the_body_dropped_unless_allowed) {
  // Issue 29: a NUL is refused like a bare CR, also in the tail of an over-long line; the
  // end of data is still only <CRLF>.<CRLF>.
  const std::string long_line = std::string(600, 'x') + '\0' + std::string(600, 'y') + "\r\n";
  for (const std::string& in :
       {std::string("a\0b\r\n.\r\n", 9), std::string("\0.\0\r\n.\r\n", 8), long_line + ".\r\n"}) {
    std::string body;
    DataReader reader(kBig, &body, conf::BareLf::kNormalize, conf::Nul::kReject);
    for (char c : in) reader.consume(std::string_view(&c, 1));
    BOOST_TEST(reader.done(), "input of " << in.size() << " bytes");
    BOOST_TEST(reader.nul(), "input of " << in.size() << " bytes");
    BOOST_TEST(reader.refused(), "input of " << in.size() << " bytes");
    BOOST_TEST(body.empty());
  }
  std::string body;
  DataReader allowing(kBig, &body, conf::BareLf::kNormalize, conf::Nul::kAllow);
  allowing.consume(std::string("a\0b\r\n.\r\n", 9));
  BOOST_TEST(allowing.done());
  BOOST_TEST(!allowing.nul());
  BOOST_TEST(body == std::string("a\0b\r\n", 5));
}

BOOST_AUTO_TEST_CASE(max_size_exceeded_drops_the_body) {
  std::string line = std::string(98, 'b') + "\r\n";  // 100 octets each
  std::string in;
  for (int i = 0; i < 20; ++i) in += line;
  Outcome at_limit = feed_whole(in + ".\r\n", in.size());
  BOOST_TEST(at_limit.done);
  BOOST_TEST(!at_limit.too_big);
  BOOST_TEST(at_limit.body == in);

  for (int mode = 0; mode < 2; ++mode) {
    std::string body;
    DataReader reader(in.size() - 1, &body, conf::BareLf::kReject);
    if (mode == 0) {
      reader.consume(in);
    } else {
      for (char c : in) reader.consume(std::string_view(&c, 1));
    }
    BOOST_TEST(reader.too_big());
    BOOST_TEST(body.empty());
    // Dropped means the memory too, not only the length: clear() keeps it.
    BOOST_TEST(body.capacity() < 100u, "capacity still " << body.capacity());
    // More lines keep nothing and the end is still found.
    reader.consume(in);
    BOOST_TEST(body.empty());
    BOOST_TEST(reader.consume(".\r\nQUIT\r\n") == 3u);
    BOOST_TEST(reader.done());
    BOOST_TEST(reader.too_big());
    BOOST_TEST(reader.received() == 2 * in.size() + 3);
  }
}

BOOST_AUTO_TEST_CASE(normalize_stores_bare_lf_lines_as_crlf) {
  // What curl without --crlf sends: LF line ends, its own CRLF.CRLF at the end.
  const std::string in = "Subject: t\nline one\n..stuffed\nlast\r\n.\r\nQUIT\r\n";
  for (int split = 0; split < 2; ++split) {
    Outcome out = split == 0 ? normalized(in) : feed_bytewise(in, conf::BareLf::kNormalize);
    BOOST_TEST(out.done);
    BOOST_TEST(!out.bare_newline);
    BOOST_TEST(out.used == in.size() - 6, "QUIT stays for the command reader");
    BOOST_TEST(out.body == "Subject: t\r\nline one\r\n.stuffed\r\nlast\r\n");
  }
}

BOOST_AUTO_TEST_CASE(normalize_keeps_a_lone_dot_that_did_not_end_the_message) {
  // A "." line next to a bare LF is not the end; it stays content, as ".", so that
  // the client side stuffs it when the message is sent on.
  const std::pair<const char*, const char*> kCases[] = {
      {"a\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n"},
      {"a\r\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n"},
      {"a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n"},
      {"\n.\r\nb\r\n.\r\n", "\r\n.\r\nb\r\n"},  // right after the DATA line
  };
  for (const auto& [in, body] : kCases) {
    Outcome out = normalized(in);
    BOOST_TEST(out.done, in);
    BOOST_TEST(!out.bare_newline, in);
    BOOST_TEST(out.used == std::string_view(in).size(), in);
    BOOST_TEST(out.body == body, in);
    check_same(out, feed_bytewise(in, conf::BareLf::kNormalize), in);
  }
}

BOOST_AUTO_TEST_CASE(normalize_still_refuses_bare_cr_and_never_ends_early) {
  for (const auto& [name, seq] : kSmuggling) {
    const std::string carrier = "Subject: carrier\r\n\r\nfirst part" + seq + kSmuggled;
    const std::string in = carrier + "\r\n.\r\n";
    bool has_cr = false;  // a CR not followed by LF (the sequence is followed by "MAIL")
    for (size_t i = 0; i < seq.size(); ++i)
      if (seq[i] == '\r' && (i + 1 == seq.size() || seq[i + 1] != '\n')) has_cr = true;
    Outcome out = normalized(in);
    // Only the real <CRLF>.<CRLF> ends it, whatever the sequence.
    BOOST_TEST(out.done, name);
    BOOST_TEST(out.used == in.size(), name);
    BOOST_TEST(out.bare_newline == has_cr, name);
    check_same(out, feed_bytewise(in, conf::BareLf::kNormalize), name);
    if (!has_cr) {
      // One message, with the smuggled commands as its content and CRLF everywhere.
      BOOST_TEST(out.body.find("\r\nMAIL FROM:<evil@example.org>\r\n") != std::string::npos, name);
      BOOST_TEST(out.body.find("\r\n.\r\n") != std::string::npos, name << ": the dot stays");
      for (size_t i = 0; i < out.body.size(); ++i) {
        bool cr = out.body[i] == '\r', lf = out.body[i] == '\n';
        if (cr) BOOST_TEST_REQUIRE(i + 1 < out.body.size());
        if (cr) BOOST_TEST(out.body[i + 1] == '\n', name << " at " << i);
        if (lf) BOOST_TEST((i > 0 && out.body[i - 1] == '\r'), name << " at " << i);
      }
    }
    BOOST_TEST(!normalized(carrier).done, name << ": ended early");
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::relay
