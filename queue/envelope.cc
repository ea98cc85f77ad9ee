// envelope.cc - the envelope's binary encoding.
//
// Layout (format version 1): a version byte, then every field in a fixed order.
// Unsigned integers are LEB128 varints, signed ones zigzag varints, strings a
// varint length followed by the bytes, booleans one flags byte. Recipients and
// their attempts are a varint count followed by the items. Nothing may follow
// the last field, so every strict prefix of a valid encoding fails to decode.
//
// A new field means a new version byte: decode() keeps reading every older
// version it knows, and refuses versions it does not.
#include "queue/envelope.h"

#include <cstddef>
#include <utility>

namespace hato::queue {

namespace {

// 2 added `folder`, 3 the attempts' TLS, 4 their bounce category.
constexpr uint8_t kFormatVersion = 4;

// Envelope flag bits; unknown bits mean the record is garbled.
constexpr uint8_t kFlagSmtputf8 = 1;
constexpr uint8_t kFlagEightBit = 2;
constexpr uint8_t kFlagDelayWarned = 4;
constexpr uint8_t kKnownFlags = kFlagSmtputf8 | kFlagEightBit | kFlagDelayWarned;
constexpr uint8_t kKnownNotify = kNotifyNever | kNotifySuccess | kNotifyFailure | kNotifyDelay;

// put_varint - appends v as LEB128, low 7 bits first.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// put_signed - zigzag so that small negative numbers stay short too.
void put_signed(std::string& out, int64_t v) {
  put_varint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

void put_byte(std::string& out, uint8_t b) {
  out += static_cast<char>(b);
}

// Reader - a cursor over untrusted bytes. Every read checks what is left and
// records the first failure; later reads after a failure are no-ops.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return in_.size() - pos_; }

  void fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
  }

  uint8_t byte(const char* field) {
    if (failed()) return 0;
    if (remaining() < 1) {
      fail(std::string("truncated at ") + field);
      return 0;
    }
    return static_cast<uint8_t>(in_[pos_++]);
  }

  uint64_t varint(const char* field) {
    if (failed()) return 0;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (remaining() < 1) {
        fail(std::string("truncated at ") + field);
        return 0;
      }
      uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && b > 1) break;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail(std::string("varint too long at ") + field);
    return 0;
  }

  int64_t signed_varint(const char* field) {
    uint64_t v = varint(field);
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }

  std::string string(const char* field) {
    uint64_t n = varint(field);
    if (failed()) return {};
    if (n > remaining()) {
      fail(std::string("truncated at ") + field);
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  // count - a count of items, each at least min_item_bytes long; checking it
  // against what is left stops a garbled count before any work is done.
  uint64_t count(const char* field, size_t min_item_bytes) {
    uint64_t n = varint(field);
    if (failed()) return 0;
    if (n > remaining() / min_item_bytes) {
      fail(std::string("bad count at ") + field);
      return 0;
    }
    return n;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

// Smallest encodings: an attempt is a time and two lengths; a recipient two
// lengths, notify, state and an attempt count.
constexpr size_t kMinAttemptBytes = 3;
constexpr size_t kMinRecipientBytes = 5;

void decode_recipient(Reader& r, Recipient& rcpt, uint8_t version) {
  rcpt.address = r.string("recipient address");
  rcpt.orcpt = r.string("recipient orcpt");
  rcpt.notify = r.byte("recipient notify");
  if ((rcpt.notify & ~kKnownNotify) != 0) r.fail("bad recipient notify");
  uint8_t state = r.byte("recipient state");
  if (state > static_cast<uint8_t>(RcptState::kExpired)) r.fail("bad recipient state");
  rcpt.state = static_cast<RcptState>(state);
  uint64_t attempts = r.count("attempt count", kMinAttemptBytes);
  for (uint64_t i = 0; i < attempts && !r.failed(); ++i) {
    Attempt& a = rcpt.attempts.emplace_back();
    a.time_ms = r.signed_varint("attempt time");
    a.host = r.string("attempt host");
    a.response = r.string("attempt response");
    if (version >= 3) {
      a.tls_policy = r.string("attempt TLS policy");
      a.tls_version = r.string("attempt TLS version");
      a.tls_cipher = r.string("attempt TLS cipher");
    }
    if (version >= 4) a.category = r.string("attempt category");
  }
}

}  // namespace

std::string encode(const Envelope& e) {
  std::string out;
  out.reserve(64 + e.sender.size() + e.client.size() + 32 * e.recipients.size());
  put_byte(out, kFormatVersion);
  put_string(out, e.sender);
  put_signed(out, e.created_ms);
  put_signed(out, e.next_attempt_ms);
  put_byte(out, static_cast<uint8_t>(e.state));
  put_varint(out, e.size);
  put_string(out, e.ret);
  put_string(out, e.envid);
  put_byte(out, (e.smtputf8 ? kFlagSmtputf8 : 0) | (e.eight_bit ? kFlagEightBit : 0) |
                    (e.delay_warned ? kFlagDelayWarned : 0));
  put_string(out, e.auth_user);
  put_string(out, e.client);
  put_string(out, e.listener);
  put_string(out, e.folder);
  put_varint(out, e.recipients.size());
  for (const Recipient& rcpt : e.recipients) {
    put_string(out, rcpt.address);
    put_string(out, rcpt.orcpt);
    put_byte(out, rcpt.notify);
    put_byte(out, static_cast<uint8_t>(rcpt.state));
    put_varint(out, rcpt.attempts.size());
    for (const Attempt& a : rcpt.attempts) {
      put_signed(out, a.time_ms);
      put_string(out, a.host);
      put_string(out, a.response);
      put_string(out, a.tls_policy);
      put_string(out, a.tls_version);
      put_string(out, a.tls_cipher);
      put_string(out, a.category);
    }
  }
  return out;
}

Result<Envelope> decode(std::string_view bytes) {
  Reader r(bytes);
  uint8_t version = r.byte("version");
  if (r.failed()) return Result<Envelope>::error("envelope: empty record");
  if (version < 1 || version > kFormatVersion) {
    return Result<Envelope>::error("envelope: unsupported format version " +
                                   std::to_string(version));
  }
  Envelope e;
  e.sender = r.string("sender");
  e.created_ms = r.signed_varint("created");
  e.next_attempt_ms = r.signed_varint("next attempt");
  uint8_t state = r.byte("state");
  if (state > static_cast<uint8_t>(MessageState::kHeld)) r.fail("bad message state");
  e.state = static_cast<MessageState>(state);
  e.size = r.varint("size");
  e.ret = r.string("ret");
  e.envid = r.string("envid");
  uint8_t flags = r.byte("flags");
  if ((flags & ~kKnownFlags) != 0) r.fail("bad flags");
  e.smtputf8 = (flags & kFlagSmtputf8) != 0;
  e.eight_bit = (flags & kFlagEightBit) != 0;
  e.delay_warned = (flags & kFlagDelayWarned) != 0;
  e.auth_user = r.string("auth user");
  e.client = r.string("client");
  e.listener = r.string("listener");
  if (version >= 2) e.folder = r.string("folder");
  uint64_t recipients = r.count("recipient count", kMinRecipientBytes);
  for (uint64_t i = 0; i < recipients && !r.failed(); ++i) {
    decode_recipient(r, e.recipients.emplace_back(), version);
  }
  if (!r.failed() && r.remaining() != 0) r.fail("trailing bytes");
  if (r.failed()) return Result<Envelope>::error("envelope: " + r.error());
  return e;
}

}  // namespace hato::queue
