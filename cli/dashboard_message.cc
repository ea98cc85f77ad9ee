// dashboard_message.cc - one queued message: envelope, recipients with every attempt, headers,
// the body behind a click; and the actions, each confirmed on a page of its own first.
#include "cli/admin_server.h"
#include "cli/dashboard_impl.h"
#include "cli/queue_shape.h"
#include "common/log.h"

namespace hato::cli {

namespace {

constexpr size_t kBodyShown = 256 * 1024;  // more is cut, with a note

struct ActionText {
  std::string_view action, label, what;
};
constexpr ActionText kActions[] = {
    {"hold", "Hold", "stops delivery until it is released"},
    {"release", "Release", "lets held mail go again"},
    {"flush", "Retry now", "makes it due for delivery now"},
    {"bounce", "Bounce", "returns it to the sender with a DSN and removes it"},
    {"delete", "Delete", "removes it without telling anyone"},
};

const ActionText* action_text(std::string_view action) {
  for (const auto& a : kActions)
    if (a.action == action) return &a;
  return nullptr;
}

std::string cell(std::string_view text) {
  return "<td>" + html::escape(text) + "</td>";
}

std::string envelope_table(const queue::StoredMessage& m) {
  const queue::Envelope& env = m.envelope;
  auto row = [](std::string_view name, std::string_view value) {
    return "<tr><th scope=\"row\">" + std::string(name) + "</th>" + cell(value) + "</tr>";
  };
  return "<table id=\"envelope\"><caption>Envelope</caption>" + row("Queue ID", m.id.str()) +
         row("State", message_state_name(env.state)) +
         row("From", env.sender.empty() ? "<>" : env.sender) +
         row("Created", log::rfc3339(env.created_ms)) +
         row("Next attempt", log::rfc3339(env.next_attempt_ms)) +
         row("Size", std::to_string(env.size) + " bytes") + row("Client", env.client) +
         row("Listener", env.listener) + row("User", env.auth_user) + "</table>";
}

// Every recipient with its attempts in order: the timeline of the message.
std::string attempts_table(const queue::Envelope& env) {
  std::string out =
      "<div class=\"scroll\"><table id=\"attempts\"><caption>Recipients and attempts</caption>"
      "<thead><tr><th scope=\"col\">Recipient</th><th scope=\"col\">State</th><th "
      "scope=\"col\">Time</th><th scope=\"col\">MX</th><th scope=\"col\">TLS</th><th "
      "scope=\"col\">Reply</th></tr></thead><tbody>";
  for (const auto& r : env.recipients) {
    std::string head = cell(r.address) + cell(rcpt_state_name(r.state));
    if (r.attempts.empty()) out += "<tr>" + head + "<td colspan=\"4\">no attempt yet</td></tr>";
    for (const auto& a : r.attempts) {
      std::string tls = a.tls_version.empty() ? "none" : a.tls_version + " " + a.tls_cipher;
      if (!a.tls_policy.empty()) tls += " (" + a.tls_policy + ")";
      std::string reply = a.response + (a.category.empty() ? "" : " [" + a.category + "]");
      out += "<tr>" + head + cell(log::rfc3339(a.time_ms)) + cell(a.host) + cell(tls) +
             cell(reply) + "</tr>";
      head = "<td></td><td></td>";
    }
  }
  return out + "</tbody></table></div>";
}

std::string action_buttons(const queue::StoredMessage& m) {
  std::string out = "<h2>Actions</h2><ul class=\"cards\" id=\"actions\">";
  bool held = m.envelope.state == queue::MessageState::kHeld;
  for (const auto& a : kActions) {
    if ((a.action == "hold" && held) || (a.action == "release" && !held)) continue;
    out += "<li><a href=\"/queue/" + m.id.str() + "/confirm?action=" + std::string(a.action) +
           "\">" + std::string(a.label) + "</a></li>";
  }
  return out + "</ul>";
}

}  // namespace

void Dashboard::Impl::message_page(DashboardRequest& request, const queue::QueueId& id,
                                   const net::HttpResponder& respond) {
  const DashboardSession& s = *request.session;
  auto envelope = store.envelope(id);
  if (!envelope)
    return respond(
        html(404, html::page("Message", s.user, s.csrf,
                             "<p>No message " + html::escape(id.str()) +
                                 " in the queue.</p><p><a href=\"/queue\">Queue</a></p>")));
  queue::StoredMessage m{id, std::move(envelope).value()};
  std::string body = envelope_table(m) + action_buttons(m) + attempts_table(m.envelope);
  if (auto message = store.message(id)) {
    std::string_view text = *message;
    std::string_view head = header_section(text);
    body += "<h2>Headers</h2><pre id=\"headers\">" + html::escape(head) + "</pre>";
    std::string_view rest = text.substr(head.size());
    body += "<details><summary>Body (" + std::to_string(rest.size()) + " bytes)</summary><pre>" +
            html::escape(rest.substr(0, kBodyShown)) +
            (rest.size() > kBodyShown ? "</pre><p>(cut; <code>hato queue cat</code> shows all)</p>"
                                      : "</pre>") +
            "</details>";
  }
  respond(html(200, html::page("Message " + id.str(), s.user, s.csrf, body)));
}

void Dashboard::Impl::confirm_page(DashboardRequest& request, const queue::QueueId& id,
                                   const net::HttpResponder& respond) {
  const DashboardSession& s = *request.session;
  const ActionText* a = action_text(request.form["action"]);
  if (!a)
    return respond(html(400, html::page("Confirm", s.user, s.csrf, "<p>No such action.</p>")));
  std::string body = "<p>" + std::string(a->label) + " message <a href=\"/queue/" + id.str() +
                     "\">" + id.str() + "</a>? This " + std::string(a->what) +
                     ".</p><form method=\"post\" action=\"/queue/" + id.str() + "/action\">" +
                     html::csrf_field(s.csrf) + "<input type=\"hidden\" name=\"action\" value=\"" +
                     std::string(a->action) + "\"><button type=\"submit\" id=\"confirm\"" +
                     (a->action == "delete" || a->action == "bounce" ? " class=\"danger\"" : "") +
                     ">" + std::string(a->label) + "</button> <a href=\"/queue/" + id.str() +
                     "\">Cancel</a></form>";
  respond(html(200, html::page("Confirm: " + std::string(a->label), s.user, s.csrf, body)));
}

void Dashboard::Impl::act(DashboardRequest& request, const queue::QueueId& id,
                          const net::HttpResponder& respond) {
  const DashboardSession& s = *request.session;
  std::string action = request.form["action"];
  if (!action_text(action))
    return respond(html(400, html::page("Action", s.user, s.csrf, "<p>No such action.</p>")));
  Status status = queue_action(control, id, action, s.user);
  if (!status) {
    log::warning(
        "dashboard action refused",
        {{"user", s.user}, {"action", action}, {"id", id.str()}, {"reason", status.message()}});
    return respond(
        html(status.code() == Code::kNotFound ? 404 : 409,
             html::page("Action", s.user, s.csrf,
                        "<p class=\"error\">" +
                            html::escape(action + " " + id.str() + ": " + status.message()) +
                            "</p><p><a href=\"/queue\">Queue</a></p>")));
  }
  bool gone = action == "delete" || action == "bounce";
  respond(redirect(gone ? "/queue" : "/queue/" + id.str()));
}

}  // namespace hato::cli
