// arf.h - feedback reports (ARF, RFC 5965): a mailbox provider telling us that a user marked
// our mail as spam. Only what Hato acts on is read: the feedback type, the complaining
// recipient and the original sender, the original's Message-ID and our queue ID from the
// Received field Hato wrote ("by <host> (Hato) with ESMTP id <ID>").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hato::policy {

struct Complaint {
  std::string feedback_type;  // abuse, fraud, virus, other, not-spam (lower case)
  std::string user_agent;     // the reporter's software, for the log
  std::string recipient;      // Original-Rcpt-To, else the first To of the original
  std::string sender;         // Original-Mail-From, else the original's Return-Path
  std::string message_id;     // of the original, without <>
  std::string queue_id;       // ours, when the original carries our Received field
  std::string source_ip;
};

// A multipart/report with report-type=feedback-report and a message/feedback-report part;
// nullopt for anything else (an ordinary message, a DSN). The recipient may be "" when the
// provider redacted it.
std::optional<Complaint> parse_arf(std::string_view message);

}  // namespace hato::policy
