// bounce.cc - composing RFC 3464 delivery status notifications.
#include "relay/bounce.h"

#include <ctime>
#include <random>
#include <string_view>

#include "common/log.h"
#include "relay/smtp_reply.h"

namespace hato::relay {

namespace {

// DSN fields must stay on lines of sane length and never carry CR or LF.
std::string one_line(std::string s, size_t max = 900) {
  for (auto& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  if (s.size() > max) s.resize(max);
  return s;
}

std::string boundary(const std::string& queue_id, int64_t now_ms) {
  return "=_hato_" + queue_id + "_" + std::to_string(now_ms);
}

}  // namespace

// delay_status - the stored reply's code is "4xx " and the enhanced code follows it.
std::string delay_status(std::string_view last_response) {
  auto digit = [&](size_t i) {
    return i < last_response.size() && last_response[i] >= '0' && last_response[i] <= '9';
  };
  bool coded =
      digit(0) && digit(1) && digit(2) && (last_response.size() == 3 || last_response[3] == ' ');
  if (!coded) return "4.4.1";
  Reply reply;
  reply.code = std::stoi(std::string(last_response.substr(0, 3)));
  if (reply.code < 400 || reply.code >= 500) return "4.0.0";  // not a deferral
  if (last_response.size() > 4) reply.lines.emplace_back(last_response.substr(4));
  return reply.enhanced();
}

std::string build_notice(const NoticeInput& in, const std::string& message_id, int64_t now_ms) {
  std::string m;
  m += "From: " + one_line(in.from) + "\r\n";
  m += "To: <" + one_line(in.to) + ">\r\n";
  m += "Subject: " + one_line(in.subject) + "\r\n";
  m += "Date: " + log::rfc5322(now_ms) + "\r\n";
  m += "Message-ID: <" + message_id + ">\r\n";
  m += "Auto-Submitted: auto-generated\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  // Every line ends in CRLF, and none is long enough to break a transport (RFC 5322 2.1.1).
  std::string_view body = in.body;
  while (!body.empty()) {
    size_t eol = body.find('\n');
    std::string_view line = body.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    m += one_line(std::string(line.substr(0, 990)));
    m += "\r\n";
    if (eol == std::string_view::npos) break;
    body.remove_prefix(eol + 1);
  }
  return m;
}

std::string header_section(const std::string& message) {
  auto end = message.find("\r\n\r\n");
  if (end == std::string::npos) return message;
  return message.substr(0, end + 2);
}

std::string build_dsn(const DsnInput& in, const std::string& message_id, int64_t now_ms) {
  bool delayed = !in.recipients.empty() && in.recipients.front().action == "delayed";
  const std::string b = boundary(in.queue_id, now_ms);
  std::string m;
  m.reserve(4096 + (in.original ? in.original->size() : 0));
  m += "From: Mail Delivery System <MAILER-DAEMON@" + in.hostname + ">\r\n";
  m += "To: <" + in.original_sender + ">\r\n";
  m += delayed ? "Subject: Delayed Mail (still being retried)\r\n"
               : "Subject: Undelivered Mail Returned to Sender\r\n";
  m += "Date: " + log::rfc5322(now_ms) + "\r\n";
  m += "Message-ID: <" + message_id + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + b +
       "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  // The part a person reads.
  m += "--" + b + "\r\n";
  m += "Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  m += "This is the mail system at host " + in.hostname + ".\r\n\r\n";
  if (delayed) {
    m += "Your message (queue ID " + in.queue_id +
         ") could not be delivered yet. The mail system will keep trying until " +
         log::rfc5322(in.retry_until_ms) + ". You do not need to send it again.\r\n\r\n";
  } else {
    m += "Your message (queue ID " + in.queue_id +
         ") could not be delivered to one or more recipients. It is attached below.\r\n\r\n";
  }
  for (const auto& r : in.recipients) {
    m += "<" + r.address + ">: " + one_line(r.reason.empty() ? r.diagnostic : r.reason) + "\r\n";
  }
  m += "\r\n";

  // The part a program reads (RFC 3464 section 2).
  m += "--" + b + "\r\n";
  m += "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + in.hostname + "\r\n";
  m += "X-Hato-Queue-ID: " + in.queue_id + "\r\n";
  if (!in.envid.empty()) m += "Original-Envelope-Id: " + one_line(in.envid) + "\r\n";
  m += "Arrival-Date: " + log::rfc5322(in.arrival_ms) + "\r\n";
  for (const auto& r : in.recipients) {
    m += "\r\n";
    if (!r.orcpt.empty()) {
      auto semi = r.orcpt.find(';');
      m += "Original-Recipient: " + one_line(r.orcpt.substr(0, semi)) + ";" +
           one_line(semi == std::string::npos ? "" : r.orcpt.substr(semi + 1)) + "\r\n";
    }
    m += "Final-Recipient: rfc822; " + r.address + "\r\n";
    m += "Action: " + r.action + "\r\n";
    m += "Status: " + r.status + "\r\n";
    if (!r.remote_mta.empty()) m += "Remote-MTA: dns; " + r.remote_mta + "\r\n";
    if (!r.diagnostic.empty()) m += "Diagnostic-Code: smtp; " + one_line(r.diagnostic) + "\r\n";
    if (r.last_attempt_ms) m += "Last-Attempt-Date: " + log::rfc5322(r.last_attempt_ms) + "\r\n";
    if (delayed && in.retry_until_ms)
      m += "Will-Retry-Until: " + log::rfc5322(in.retry_until_ms) + "\r\n";
  }
  m += "\r\n";

  // The original: whole when RET=FULL, else its headers.
  if (in.original) {
    m += "--" + b + "\r\n";
    if (in.ret == "FULL") {
      m += "Content-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n\r\n";
      m += *in.original;
      if (m.size() < 2 || m.compare(m.size() - 2, 2, "\r\n") != 0) m += "\r\n";
    } else {
      m += "Content-Description: Undelivered Message Headers\r\n"
           "Content-Type: text/rfc822-headers\r\n\r\n";
      m += header_section(*in.original);
    }
    m += "\r\n";
  }
  m += "--" + b + "--\r\n";
  return m;
}

}  // namespace hato::relay
