// accept_guard.cc - pausing a listener that cannot accept; the descriptor limit; libevent's log.
#include "net/accept_guard.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "common/log.h"
#include "net/net_metrics.h"

namespace hato::net {

namespace {
constexpr int64_t kLogEveryMs = 10000;

// libevent hands the error callback the listener's user data, which belongs to the listener's
// owner (the SMTP server, evhttp): the guard of a listener is found here instead. Loop thread.
std::unordered_map<evconnlistener*, AcceptGuard*>& guards() {
  static std::unordered_map<evconnlistener*, AcceptGuard*> map;
  return map;
}
}  // namespace

AcceptGuard::AcceptGuard(Loop& loop, evconnlistener* listener, std::string name)
    : listener_(listener), name_(std::move(name)), resume_timer_(loop, [this] { resume(); }) {
  guards()[listener_] = this;
  evconnlistener_set_error_cb(listener_, &AcceptGuard::on_error);
  m::accept_paused(name_);  // the series exists from the start, at zero
}

AcceptGuard::~AcceptGuard() {
  evconnlistener_set_error_cb(listener_, nullptr);
  guards().erase(listener_);
}

void AcceptGuard::on_error(evconnlistener* listener, void*) {
  int error = EVUTIL_SOCKET_ERROR();
  auto it = guards().find(listener);
  if (it != guards().end()) it->second->failed(error);
}

void AcceptGuard::failed(int error) {
  evconnlistener_disable(listener_);
  resume_timer_.arm(kPause);
  m::accept_paused(name_).inc();
  ++unlogged_;
  int64_t now = log::now_ms();
  if (now - last_log_ms_ < kLogEveryMs) return;
  last_log_ms_ = now;
  log::warning("cannot accept connections, pausing the listener",
               {{"listener", name_},
                {"reason", std::strerror(error)},
                {"pauses", std::to_string(unlogged_)},
                {"pause", std::to_string(kPause.count()) + "ms"}});
  unlogged_ = 0;
}

void AcceptGuard::resume() {
  evconnlistener_enable(listener_);
}

DescriptorLimit raise_descriptor_limit() {
  DescriptorLimit out;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return out;
  out.before = limit.rlim_cur;
  out.hard = limit.rlim_max;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &limit);  // on failure the old limit stands, as reported
  }
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) out.soft = limit.rlim_cur;
  return out;
}

namespace {

// At most kBurst lines per second from libevent; the rest are counted and summed up once.
constexpr int kBurst = 5;
std::mutex log_mu;
int64_t window_ms = 0;
int in_window = 0;
int dropped = 0;

void libevent_log(int severity, const char* message) {
  std::lock_guard<std::mutex> lock(log_mu);
  int64_t now = log::now_ms();
  if (now - window_ms >= 1000) {
    if (dropped > 0)
      log::warning("libevent messages dropped", {{"count", std::to_string(dropped)}});
    window_ms = now;
    in_window = 0;
    dropped = 0;
  }
  if (++in_window > kBurst) {
    ++dropped;
    return;
  }
  if (severity >= EVENT_LOG_ERR) {
    log::error("libevent", {{"message", message}});
  } else if (severity >= EVENT_LOG_WARN) {
    log::warning("libevent", {{"message", message}});
  }
}

}  // namespace

void route_libevent_log() {
  event_set_log_callback(&libevent_log);
}

}  // namespace hato::net
