// arf.cc - see arf.h.
#include "policy/arf.h"

#include "common/strings.h"
#include "policy/mail/address_list.h"
#include "policy/mail/mime.h"

namespace hato::policy {

namespace {

// "<a@b>" or "a@b" -> "a@b".
std::string bare_address(std::string_view value) {
  std::string_view v = trim(value);
  if (!v.empty() && v.front() == '<') v.remove_prefix(1);
  if (!v.empty() && v.back() == '>') v.remove_suffix(1);
  return std::string(trim(v));
}

// The first address of an address-list field value.
std::string first_address(std::string_view value) {
  auto list = mail::parse_address_list(value);
  if (list.mailboxes.empty()) return "";
  const auto& m = list.mailboxes.front();
  return m.local_part + "@" + m.domain;
}

// Our queue ID from a Received field Hato wrote: "... (Hato) with ESMTP id 06H5...".
std::string our_queue_id(const mail::Entity& original) {
  for (const auto& [name, value] : original.fields) {
    if (name != "received" || value.find("(Hato)") == std::string::npos) continue;
    size_t id = value.find(" id ");
    if (id == std::string::npos) continue;
    std::string_view rest = std::string_view(value).substr(id + 4);
    return std::string(rest.substr(0, rest.find_first_of(" ;\t")));
  }
  return "";
}

void read_feedback(const mail::Entity& report, Complaint* c) {
  // The feedback-report part's body is itself a header section (RFC 5965 3.1).
  mail::Entity fields = mail::split_entity(report.body);
  c->feedback_type = ascii_lower(fields.field("feedback-type"));
  c->user_agent = fields.field("user-agent");
  c->recipient = bare_address(fields.field("original-rcpt-to"));
  c->sender = bare_address(fields.field("original-mail-from"));
  c->source_ip = fields.field("source-ip");
}

void read_original(const mail::Entity& part, Complaint* c) {
  mail::Entity original = mail::split_entity(part.body);
  c->message_id = bare_address(original.field("message-id"));
  c->queue_id = our_queue_id(original);
  if (c->recipient.empty()) c->recipient = first_address(original.field("to"));
  if (c->sender.empty()) c->sender = bare_address(original.field("return-path"));
}

}  // namespace

std::optional<Complaint> parse_arf(std::string_view message) {
  mail::Entity top = mail::split_entity(message);
  if (top.media_type() != "multipart/report" ||
      ascii_lower(mail::parameter(top.field("content-type"), "report-type")) != "feedback-report")
    return std::nullopt;
  Complaint c;
  bool feedback = false;
  for (std::string_view text : mail::multipart_parts(top)) {
    mail::Entity part = mail::split_entity(text);
    std::string type = part.media_type();
    if (type == "message/feedback-report") {
      read_feedback(part, &c);
      feedback = true;
    } else if (type == "message/rfc822" || type == "text/rfc822-headers") {
      read_original(part, &c);
    }
  }
  if (!feedback || c.feedback_type.empty()) return std::nullopt;
  return c;
}

}  // namespace hato::policy
