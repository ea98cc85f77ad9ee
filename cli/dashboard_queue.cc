// dashboard_queue.cc - the queue pages: the summary (qshape) with search and a listing, one
// message with its attempts, and the actions with their confirmation step. The counting is
// QueueShape's and the walk walk_store()'s, as for `hato queue summary` and `queue ls`; the
// actions go through queue_action(), as for `hato queue hold` and the rest.
#include <algorithm>

#include "cli/admin_server.h"
#include "cli/dashboard_impl.h"
#include "cli/queue_shape.h"
#include "cli/store_walk.h"
#include "common/log.h"
#include "common/strings.h"

namespace hato::cli {

namespace {

constexpr size_t kListRows = 200;  // a page lists at most this many messages

std::string time_text(int64_t ms) {
  return html::escape(log::rfc3339(ms));
}

// What the search box matches: a queue ID, a Message-ID ("<...>", read from the headers), an
// address (sender or any recipient) or a domain (of the sender or any recipient).
struct Search {
  std::string text;  // lower case
  std::optional<queue::MessageState> state;
  std::string domain;  // ?domain=: a pending recipient there, as `queue ls --domain`

  bool message_id() const { return text.starts_with('<'); }
  bool matches(queue::Store& store, const queue::StoredMessage& m) const {
    const queue::Envelope& env = m.envelope;
    if (state && env.state != *state) return false;
    if (!domain.empty() &&
        std::none_of(env.recipients.begin(), env.recipients.end(), [&](const auto& r) {
          return r.state == queue::RcptState::kPending && address_domain(r.address) == domain;
        }))
      return false;
    if (text.empty() || ascii_lower(m.id.str()) == text) return true;
    if (message_id()) {
      auto message = store.message(m.id);
      if (!message) return false;
      std::string head = ascii_lower(header_section(*message));
      return head.find(text) != std::string::npos;
    }
    auto hit = [&](const std::string& address) {
      return ascii_lower(address) == text || address_domain(address) == text;
    };
    return hit(env.sender) || std::any_of(env.recipients.begin(), env.recipients.end(),
                                          [&](const auto& r) { return hit(r.address); });
  }
};

std::string shape_table(const QueueShape& shape) {
  std::string out =
      "<div class=\"scroll\"><table id=\"qshape\"><caption>Pending recipients' domains by "
      "message age (as <code>hato queue summary</code>)</caption><thead><tr><th "
      "scope=\"col\">Domain</th><th scope=\"col\">Messages</th><th "
      "scope=\"col\">Recipients</th>";
  for (size_t i = 0; i < kSummaryBuckets; ++i)
    out += "<th scope=\"col\">" + QueueShape::bucket_name(i) + "</th>";
  out += "</tr></thead><tbody>";
  auto row = [&](const std::string& name, const std::string& link, const QueueShape::Row& r) {
    out += "<tr><th scope=\"row\">" +
           (link.empty() ? name : "<a href=\"" + link + "\">" + name + "</a>") + "</th><td>" +
           std::to_string(r.messages) + "</td><td>" + std::to_string(r.recipients) + "</td>";
    for (uint64_t n : r.counts) out += "<td>" + std::to_string(n) + "</td>";
    out += "</tr>";
  };
  row("Total", "", shape.total());
  for (const auto& [domain, r] : shape.rows())
    row(html::escape(*domain), "/queue?domain=" + percent_encode(*domain, "-._~"), *r);
  out += "</tbody></table></div><p id=\"states\">";
  for (auto s :
       {queue::MessageState::kQueued, queue::MessageState::kDeferred, queue::MessageState::kHeld}) {
    std::string name = message_state_name(s);
    out += "<a href=\"/queue?state=" + name + "\">" + name + "</a>: <span id=\"state-" + name +
           "\">" + std::to_string(shape.in_state(s)) + "</span> ";
  }
  return out + "</p>";
}

std::string search_form(const Search& search) {
  std::string out =
      "<form method=\"get\" action=\"/queue\" role=\"search\"><label for=\"q\">Search by queue "
      "ID, Message-ID, sender, recipient or domain</label><input id=\"q\" name=\"q\" "
      "value=\"" +
      html::escape(search.text) +
      "\"> <label for=\"state\">State</label><select id=\"state\" name=\"state\"><option "
      "value=\"\">any</option>";
  for (auto s :
       {queue::MessageState::kQueued, queue::MessageState::kDeferred, queue::MessageState::kHeld}) {
    std::string name = message_state_name(s);
    out += "<option value=\"" + name + "\"" + (search.state == s ? " selected" : "") + ">" + name +
           "</option>";
  }
  out += "</select>";
  if (!search.domain.empty())
    out += "<input type=\"hidden\" name=\"domain\" value=\"" + html::escape(search.domain) + "\">";
  return out + " <button type=\"submit\">Search</button></form>";
}

std::string message_row(const queue::StoredMessage& m) {
  std::string to;
  size_t attempts = 0;
  for (const auto& r : m.envelope.recipients) {
    attempts = std::max(attempts, r.attempts.size());
    if (r.state != queue::RcptState::kPending) continue;
    if (!to.empty()) to += ", ";
    to += r.address;
  }
  std::string id = m.id.str();
  return "<tr><td><a href=\"/queue/" + id + "\">" + id + "</a></td><td>" +
         html::escape(m.envelope.sender.empty() ? "<>" : m.envelope.sender) + "</td><td>" +
         html::escape(to) + "</td><td class=\"state\">" + message_state_name(m.envelope.state) +
         "</td><td>" + std::to_string(attempts) + "</td><td>" + time_text(m.envelope.created_ms) +
         "</td></tr>";
}

}  // namespace

void Dashboard::Impl::queue_page(DashboardRequest& request, const net::HttpResponder& respond) {
  Search search;
  search.text = ascii_lower(trim(request.form["q"]));
  if (queue::MessageState s; parse_message_state(request.form["state"], &s)) search.state = s;
  if (std::string d = request.form["domain"]; !d.empty()) search.domain = address_domain("@" + d);
  struct Page {
    QueueShape shape{std::nullopt, log::now_ms()};
    std::string rows;
    size_t matched = 0;
  };
  auto page = std::make_shared<Page>();
  std::string user = request.session->user, csrf = request.session->csrf;
  walk_store(
      loop, store, alive,
      [this, page, search](const queue::StoredMessage& m) {
        page->shape.add(m);
        if (search.matches(store, m) && page->matched++ < kListRows) page->rows += message_row(m);
        return true;
      },
      [this, page, search, user, csrf, respond](Status status) {
        if (!status)
          return respond(html(500, html::page("Queue", user, csrf,
                                              "<p class=\"error\">Reading the queue failed: " +
                                                  html::escape(status.message()) + "</p>")));
        std::string body = shape_table(page->shape) + search_form(search);
        body += "<p id=\"matched\">" + std::to_string(page->matched) + " messages match" +
                (page->matched > kListRows ? "; the first " + std::to_string(kListRows) + " shown"
                                           : "") +
                ".</p>";
        body +=
            "<div class=\"scroll\"><table id=\"messages\"><caption>Messages</caption><thead><tr>"
            "<th scope=\"col\">Queue ID</th><th scope=\"col\">From</th><th scope=\"col\">To "
            "(pending)</th><th scope=\"col\">State</th><th scope=\"col\">Attempts</th><th "
            "scope=\"col\">Created</th></tr></thead><tbody>" +
            page->rows + "</tbody></table></div>";
        // With script, the tables follow the queue (kLiveScript); without, a reload does.
        respond(
            html(200, html::page("Queue", user, csrf, "<div data-live-page>" + body + "</div>")));
      });
}

bool Dashboard::Impl::queue_route(DashboardRequest& request, const net::HttpResponder& respond) {
  std::string_view path = request.http.path;
  if (!path.starts_with("/queue/")) return false;
  path.remove_prefix(7);
  std::string_view rest;
  if (size_t slash = path.find('/'); slash != std::string_view::npos) {
    rest = path.substr(slash + 1);
    path = path.substr(0, slash);
  }
  auto id = queue::QueueId::parse(path);
  if (!id) return false;
  bool post = request.http.method == "POST";
  if (rest.empty() && !post) return message_page(request, *id, respond), true;
  if (rest == "confirm" && !post) return confirm_page(request, *id, respond), true;
  if (rest == "action" && post) return act(request, *id, respond), true;
  return false;
}

}  // namespace hato::cli
