// complaints.cc - reports delivered to our own addresses. DMARC aggregate reports at
// dmarc_reports.rua go to relay/dmarc_reports.h. Feedback reports (ARF, RFC 5965) at
// complaints.address: the complaining recipient is suppressed for the sender's domain
// (suppression.on permitting), hato_complaints_total{provider} counts it, and a "complaint"
// event and log line name the original message.
#include "common/log.h"
#include "common/strings.h"
#include "policy/arf.h"
#include "policy/bounce_rules.h"
#include "queue/event_log.h"
#include "relay/delivery.h"
#include "relay/dmarc_reports.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

namespace {

std::string_view domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace

void DeliveryEngine::take_reports(MessageWork& work, const std::string& rcpt) {
  // Whether to a Maildir or over LMTP: read once it is safely in the mailbox.
  const std::string& complaints = config_->complaints.address;
  if (!complaints.empty() && iequals(rcpt, complaints)) take_complaint(work);
  // A DMARC report that cannot be read stays mail; only the log and a metric say so.
  const std::string& rua = config_->dmarc_reports.rua;
  if (dmarc_reports_ && !rua.empty() && iequals(rcpt, rua))
    dmarc_reports_->take(work.data, work.id.str(), work.envelope.sender);
}

void DeliveryEngine::take_complaint(MessageWork& report) {
  auto complaint = policy::parse_arf(*report.data);
  if (!complaint) {
    log::info("no feedback report in a message to the complaints address",
              {{"id", report.id.str()}, {"from", report.envelope.sender}});
    return;
  }
  const policy::Complaint& c = *complaint;
  // The provider: by the complaining recipient's domain, else by who sent the report.
  std::string provider = policy::bounce_provider(domain_of(c.recipient));
  if (provider.empty()) provider = policy::bounce_provider(domain_of(report.envelope.sender));
  m::complaints(provider).inc();
  // The rate per provider (as the limiter names them) may slow down or suspend sending.
  if (limiter_ && limiter_->active() && !c.recipient.empty())
    limiter_->observe_complaint(domain_of(c.recipient), log::now_ms());
  bool suppressed = suppression_ && !c.recipient.empty() &&
                    suppression_->note(config_->suppression, c.sender, c.recipient, "complaint",
                                       "complaint", log::now_ms());
  queue::QueueEvent event = message_event(report, "complaint", log::now_ms());
  event.id = c.queue_id.empty() ? report.id.str() : c.queue_id;
  event.original = report.id.str();  // the report itself
  event.message_id = c.message_id.empty() ? "" : "<" + c.message_id + ">";
  event.sender = c.sender;
  event.rcpt = c.recipient;
  event.response = "feedback-type " + c.feedback_type + " from " +
                   (c.user_agent.empty() ? report.envelope.sender : c.user_agent);
  event.category = "complaint";
  // `id` is the message complained about, `original` the report, as in the event.
  queue::log_event(log::Level::kWarning, "complaint", event,
                   {{"type", c.feedback_type},
                    {"provider", provider.empty() ? "other" : provider},
                    {"reporter", c.user_agent},
                    {"suppressed", suppressed ? "yes" : "no"}});
  // Announced (and written for the webhooks) with the report's own delivery record.
  report.events.push_back(std::move(event));
}

}  // namespace hato::relay
