// dashboard_overview.cc - the overview: the queue's size and oldest message, what happened in
// the last hour and the last two days (EventCounts, drawn as SVG here: no script needed), and
// the alerts that cost nothing to find - read from the same JSON the admin API answers with.
#include <sys/statvfs.h>

#include <algorithm>

#include "cli/dashboard_impl.h"
#include "cli/queue_shape.h"
#include "cli/store_walk.h"
#include "common/json.h"
#include "common/log.h"

namespace hato::cli {

namespace {

constexpr double kDiskAlertFree = 0.10;   // alert below this share of free space
constexpr uint64_t kBacklogAlert = 1000;  // events waiting for a webhook
// One colour per kind, each at least 3:1 against white (WCAG for graphics); the legend's
// classes k0..k3 in the stylesheet have the same.
constexpr const char* kColours[] = {"#0b57a4", "#1a7f37", "#b35900", "#a40000"};

// A line chart of each kind over `points` periods, oldest left; `unit` labels the x axis.
template <size_t N>
std::string chart(const std::string& id, const std::string& title,
                  const std::array<EventCounts::Series, N>& points, const char* unit) {
  constexpr int kW = 600, kH = 160, kLeft = 40, kBottom = 20;
  uint64_t top = 1;
  for (const auto& p : points) top = std::max(top, *std::max_element(p.begin(), p.end()));
  std::string out =
      "<figure><svg id=\"" + id + "\" viewBox=\"0 0 " + std::to_string(kW) + " " +
      std::to_string(kH) + "\" role=\"img\" aria-label=\"" + html::escape(title) +
      "\" width=\"100%\" preserveAspectRatio=\"none\" style=\"max-width:" + std::to_string(kW) +
      "px\">";
  out += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + std::to_string(kH - kBottom) +
         "\" x2=\"" + std::to_string(kW) + "\" y2=\"" + std::to_string(kH - kBottom) +
         "\" stroke=\"#767676\"/><text x=\"0\" y=\"12\">" + std::to_string(top) +
         "</text><text x=\"0\" y=\"" + std::to_string(kH - kBottom) + "\">0</text><text x=\"" +
         std::to_string(kLeft) + "\" y=\"" + std::to_string(kH - 4) + "\">-" + std::to_string(N) +
         " " + unit + "</text><text x=\"" + std::to_string(kW - 30) + "\" y=\"" +
         std::to_string(kH - 4) + "\">now</text>";
  for (size_t k = 0; k < EventCounts::kKinds; ++k) {
    out += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + std::string(kColours[k]) +
           "\" points=\"";
    for (size_t i = 0; i < N; ++i) {
      int x = kLeft + static_cast<int>(i * (kW - kLeft - 1) / (N - 1));
      int y = kH - kBottom - static_cast<int>(points[i][k] * (kH - kBottom - 10) / top);
      out += std::to_string(x) + "," + std::to_string(y) + " ";
    }
    out += "\"/>";
  }
  out += "</svg><figcaption>" + html::escape(title) + ": ";
  for (size_t k = 0; k < EventCounts::kKinds; ++k)
    out +=
        "<span class=\"k" + std::to_string(k) + "\">&#9632;</span> " + EventCounts::name(k) + " ";
  return out + "</figcaption></figure>";
}

// A number with its label; `live`: the /live field that updates it (see kLiveScript).
std::string card(const std::string& label, const std::string& value, const std::string& id,
                 const std::string& live = "") {
  return "<div class=\"card\"><div class=\"n\" id=\"" + id + "\"" +
         (live.empty() ? "" : " data-live=\"" + live + "\"") + ">" + html::escape(value) +
         "</div><div>" + html::escape(label) + "</div></div>";
}

std::string age_text(int64_t ms) {
  if (ms < 0) return "-";
  int64_t minutes = ms / 60'000;
  if (minutes < 60) return std::to_string(minutes) + " min";
  if (minutes < 48 * 60)
    return std::to_string(minutes / 60) + " h " + std::to_string(minutes % 60) + " min";
  return std::to_string(minutes / (24 * 60)) + " days";
}

// Each JSON line of `lines` that parses.
template <typename Fn>
void each_line(const std::string& lines, Fn fn) {
  for (size_t at = 0; at < lines.size();) {
    size_t eol = lines.find('\n', at);
    if (eol == std::string::npos) eol = lines.size();
    if (auto v = parse_json(std::string_view(lines).substr(at, eol - at))) fn(*v);
    at = eol + 1;
  }
}

}  // namespace

std::vector<std::string> Dashboard::Impl::alerts() const {
  std::vector<std::string> out;
  struct statvfs fs {};
  if (statvfs(config->data_dir.c_str(), &fs) == 0 && fs.f_blocks > 0) {
    double free = static_cast<double>(fs.f_bavail) / static_cast<double>(fs.f_blocks);
    if (free < kDiskAlertFree)
      out.push_back("Disk space: " + std::to_string(static_cast<int>(free * 100)) +
                    "% free where the queue lives (" + config->data_dir + ")");
  }
  if (sources.blacklist) {
    if (auto status = sources.blacklist(); status) {
      each_line(*status, [&](const JsonValue& v) {
        if (!v["listed"].boolean) return;
        std::string subject = v.str("address").empty() ? v.str("domain") : v.str("address");
        out.push_back("Blacklisted: " + subject + " on " + v.str("zone") + " (" + v.str("reason") +
                      ")");
      });
    }
  }
  if (sources.warmup) {
    each_line(sources.warmup(), [&](const JsonValue& v) {
      for (const auto& s : v["suspensions"].items)
        out.push_back("Suspended: " + v.str("address") + " to " + s.str("provider") + " until " +
                      s.str("until") + " (" + s.str("reason") + ")");
    });
  }
  if (sources.events) {
    each_line(sources.events(), [&](const JsonValue& v) {
      if (v.str("hook").empty()) return;
      uint64_t backlog = std::strtoull(v.str("backlog").c_str(), nullptr, 10);
      if (backlog >= kBacklogAlert)
        out.push_back("Webhook backlog: " + v.str("hook") + " has " + std::to_string(backlog) +
                      " events waiting (last error: " + v.str("last_error") + ")");
    });
  }
  return out;
}

void Dashboard::Impl::overview(DashboardRequest& request, const net::HttpResponder& respond) {
  struct Queue {
    QueueShape shape{std::nullopt, log::now_ms()};
    int64_t oldest_ms = -1;
  };
  auto q = std::make_shared<Queue>();
  std::string user = request.session->user, csrf = request.session->csrf;
  walk_store(
      loop, store, alive,
      [q](const queue::StoredMessage& m) {
        q->shape.add(m);
        if (q->oldest_ms < 0 || m.envelope.created_ms < q->oldest_ms)
          q->oldest_ms = m.envelope.created_ms;
        return true;
      },
      [this, q, user, csrf, respond](Status status) {
        int64_t now = log::now_ms();
        std::string body;
        auto found = alerts();
        body += "<section aria-labelledby=\"alerts-h\"><h2 id=\"alerts-h\">Alerts</h2>";
        if (found.empty()) body += "<p id=\"alerts\">None.</p>";
        if (!found.empty()) {
          body += "<ul id=\"alerts\" class=\"error\">";
          for (const auto& a : found) body += "<li>" + html::escape(a) + "</li>";
          body += "</ul>";
        }
        body += "</section><h2>Queue</h2><div class=\"cards\">";
        if (!status)
          body += "<p class=\"error\">Reading the queue failed: " + html::escape(status.message()) +
                  "</p>";
        body += card("messages in the queue", std::to_string(q->shape.total().messages),
                     "queue-messages");
        for (auto s : {queue::MessageState::kDeferred, queue::MessageState::kHeld}) {
          std::string name = message_state_name(s);
          body += card(name, std::to_string(q->shape.in_state(s)), "queue-" + name);
        }
        body += card("oldest message", q->oldest_ms < 0 ? "-" : age_text(now - q->oldest_ms),
                     "queue-oldest");
        body += "</div><h2>Last hour</h2><div class=\"cards\">";
        auto hour = counts.last_hour(now);
        for (size_t k = 0; k < EventCounts::kKinds; ++k)
          body += card(std::string("recipients ") + EventCounts::name(k), std::to_string(hour[k]),
                       std::string("count-") + EventCounts::name(k), EventCounts::name(k));
        body += "</div>" +
                chart("per-minute", "Per minute, last hour", counts.minutes(now), "min") +
                chart("per-hour", "Per hour, last two days", counts.hours(now), "h");
        respond(html(200, html::page("Overview", user, csrf, body)));
      });
}

}  // namespace hato::cli
