// dashboard_live.cc - GET /live: server-sent events that keep the overview's counters current
// without a reload. The EventBus only bumps the rings (EventCounts); with a browser watching,
// the first event after a quiet spell arms one timer, and the counters go out when it fires:
// a burst of mail is one update, and nobody watching costs nothing.
#include <algorithm>

#include "cli/dashboard_impl.h"
#include "common/log.h"

namespace hato::cli {

namespace {

constexpr size_t kLiveBuffer = 64 * 1024;  // unwritten bytes a slow browser may hold up
constexpr auto kPushDelay = std::chrono::milliseconds(500);
constexpr size_t kMaxLive = 32;  // open streams; beyond, the oldest goes

}  // namespace

std::string Dashboard::Impl::counters_event() const {
  auto hour = counts.last_hour(log::now_ms());
  std::string out = "event: counters\ndata: {";
  for (size_t k = 0; k < EventCounts::kKinds; ++k) {
    if (k) out += ',';
    out += "\"" + std::string(EventCounts::name(k)) + "\":" + std::to_string(hour[k]);
  }
  return out + "}\n\n";
}

void Dashboard::Impl::live(DashboardRequest&, const net::HttpResponder& respond) {
  net::HttpServerResponse head = html(200, "");
  for (auto& [name, value] : head.headers)
    if (name == "Content-Type") value = "text/event-stream";
  net::HttpStream stream = respond.stream(std::move(head), kLiveBuffer);
  if (!stream.send("retry: 5000\n\n" + counters_event())) return;
  std::erase_if(live_streams, [](const net::HttpStream& s) { return !s.open(); });
  if (live_streams.size() >= kMaxLive) {
    live_streams.front().end();
    live_streams.erase(live_streams.begin());
  }
  live_streams.push_back(std::move(stream));
}

void Dashboard::Impl::on_event(const queue::QueueEvent& e) {
  counts.add(e.event, e.time_ms);
  if (live_streams.empty() || push_armed) return;
  push_armed = true;
  loop.after(kPushDelay, [this, alive = alive] {
    if (!*alive) return;
    push_armed = false;
    std::string text = counters_event();
    // A browser that is behind misses this update; the next one carries the whole state.
    for (const auto& s : live_streams) (void)s.send(text);
    std::erase_if(live_streams, [](const net::HttpStream& s) { return !s.open(); });
  });
}

}  // namespace hato::cli
