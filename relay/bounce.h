// bounce.h - delivery status notifications (RFC 3464, RFC 3461, RFC 6522).
//
// A DSN is a multipart/report: a human explanation, a message/delivery-status
// part with one block per recipient, and the original headers
// (text/rfc822-headers), or the whole original (message/rfc822) when the
// sender asked for RET=FULL. It comes from MAILER-DAEMON with the null
// envelope sender, so it is never bounced itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hato::relay {

struct DsnRecipient {
  std::string address;
  std::string orcpt;       // "rfc822;addr" or empty
  std::string action;      // failed | delayed | delivered | relayed
  std::string status;      // "5.1.1"
  std::string remote_mta;  // host name, or empty
  std::string diagnostic;  // the remote reply ("550 5.1.1 ..."), or empty
  std::string reason;      // in words, for the human part
  int64_t last_attempt_ms = 0;
  std::string category = {};  // the bounce category, for the log (policy/bounce_rules.h)
};

struct DsnInput {
  std::string hostname;         // ours: Reporting-MTA and MAILER-DAEMON@
  std::string queue_id;         // of the original
  std::string original_sender;  // the DSN goes here
  std::string envid;
  std::string ret;  // FULL: attach the whole message
  int64_t arrival_ms = 0;
  int64_t retry_until_ms = 0;             // for delayed notices
  const std::string* original = nullptr;  // the message as queued
  std::vector<DsnRecipient> recipients;
};

// The status a delay notice gives a recipient still being retried: that of its last
// deferral, from the reply as the queue records it ("451 4.2.2 mailbox full"); 4.4.1 when
// no server answered ("connect to ...: refused"), as the delivery log says. Never 4.4.7:
// the delivery time has not expired.
std::string delay_status(std::string_view last_response);

// The complete DSN message (CRLF lines). `message_id` is the new message's ID
// (without <>), `now_ms` its date.
std::string build_dsn(const DsnInput& input, const std::string& message_id, int64_t now_ms);

// A plain-text notice from the mail system itself (to the postmaster, about a blacklist
// listing): not a DSN, but sent the same way, with the null envelope sender.
struct NoticeInput {
  std::string from;     // "Mail System <MAILER-DAEMON@example.test>"
  std::string to;       // an address
  std::string subject;  // one line
  std::string body;     // lines ending in LF or CRLF; printable text
};
std::string build_notice(const NoticeInput& input, const std::string& message_id, int64_t now_ms);

// The header section of a message, up to and excluding the empty line.
std::string header_section(const std::string& message);

}  // namespace hato::relay
