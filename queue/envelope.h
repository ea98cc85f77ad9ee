// envelope.h - what the queue keeps about a message besides its bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hato::queue {

// DSN NOTIFY flags (RFC 3461); 0 means the parameter was not given.
enum Notify : uint8_t {
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};

enum class RcptState : uint8_t { kPending = 0, kDelivered = 1, kBounced = 2, kExpired = 3 };
enum class MessageState : uint8_t { kQueued = 0, kDeferred = 1, kHeld = 2 };

struct Attempt {
  int64_t time_ms = 0;
  std::string host;      // "mx.example.test[192.0.2.1]"
  std::string response;  // the remote reply or the local reason
  // The TLS policy that applied ("opportunistic", "mta-sts", "dane", ...; "" when no
  // connection was made) and what was negotiated ("" in clear).
  std::string tls_policy;
  std::string tls_version;
  std::string tls_cipher;
  // What a failure means (policy/bounce_rules.h): "invalid-recipient", ...; "" for a
  // delivery and for records written before categories. "= {}" lets the brace
  // initialisers of the fields above leave it out.
  std::string category = {};

  bool operator==(const Attempt&) const = default;
};

struct Recipient {
  std::string address;  // as given in RCPT TO, without <>
  std::string orcpt;    // DSN ORCPT parameter, raw ("rfc822;a@b"), may be empty
  uint8_t notify = 0;   // Notify bits
  RcptState state = RcptState::kPending;
  std::vector<Attempt> attempts;

  bool operator==(const Recipient&) const = default;
};

struct Envelope {
  std::string sender;  // MAIL FROM without <>; empty for the null sender
  std::vector<Recipient> recipients;
  int64_t created_ms = 0;
  int64_t next_attempt_ms = 0;
  MessageState state = MessageState::kQueued;
  uint64_t size = 0;  // bytes of the stored message
  // DSN (RFC 3461) and other MAIL parameters.
  std::string ret;    // "FULL", "HDRS" or empty
  std::string envid;  // ENVID, xtext-decoded
  bool smtputf8 = false;
  bool eight_bit = false;  // BODY=8BITMIME
  bool delay_warned = false;
  // Where it came from.
  std::string auth_user;  // empty when not authenticated
  std::string client;     // "helo-name [1.2.3.4]"
  std::string listener;   // listener name
  // Local delivery: the Maildir folder ("Junk" after a DMARC quarantine or a
  // scanner's verdict); empty for the inbox.
  std::string folder;

  bool operator==(const Envelope&) const = default;
};

// A compact binary encoding; decode() rejects anything truncated or garbled.
std::string encode(const Envelope& envelope);
Result<Envelope> decode(std::string_view bytes);

}  // namespace hato::queue
