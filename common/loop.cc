// loop.cc - libevent loop, cross-thread wake-up, timers and signals.
#include "common/loop.h"

#include <event2/event.h>
#include <event2/thread.h>

#include <cstdlib>

namespace hato {

namespace {
// libevent must be told about threads once, before the first base exists.
void init_threads_once() {
  static const bool done = [] {
    if (evthread_use_pthreads() != 0) std::abort();
    return true;
  }();
  (void)done;
}
// A callback of after(), and the loop that must forget it once it ran.
struct Pending {
  Loop* loop;
  std::function<void()> fn;
};
}  // namespace

Loop::Loop() {
  init_threads_once();
  base_ = event_base_new();
  if (!base_) std::abort();
  wakeup_ = event_new(base_, -1, EV_PERSIST, &Loop::on_wakeup, this);
  event_add(wakeup_, nullptr);
}

Loop::~Loop() {
  event_free(wakeup_);
  event_base_free(base_);
  for (void* p : timers_) delete static_cast<Pending*>(p);
}

void Loop::run() {
  event_base_loop(base_, 0);
}
void Loop::stop() {
  post([this] { event_base_loopbreak(base_); });
}

void Loop::post(std::function<void()> fn) {
  bool first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // One activation drains everything queued before it runs.
  if (first) event_active(wakeup_, EV_READ, 0);
}

void Loop::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto* pending = new Pending{this, std::move(fn)};
  timeval tv;
  tv.tv_sec = delay.count() / 1000;
  tv.tv_usec = (delay.count() % 1000) * 1000;
  // Kept in a list so the destructor frees what never fired.
  timers_.insert(pending);
  event_base_once(
      base_, -1, EV_TIMEOUT,
      [](int, short, void* arg) {
        std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
        p->loop->timers_.erase(p.get());
        p->fn();
      },
      pending, &tv);
}

void Loop::on_wakeup(int, short, void* arg) {
  auto* self = static_cast<Loop*>(arg);
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    work.swap(self->posted_);
  }
  for (auto& fn : work) fn();
}

Timer::Timer(Loop& loop, std::function<void()> fn) : fn_(std::move(fn)) {
  ev_ = evtimer_new(loop.base(), &Timer::on_fire, this);
}
Timer::~Timer() {
  event_free(ev_);
}

void Timer::arm(std::chrono::milliseconds after) {
  timeval tv;
  tv.tv_sec = after.count() / 1000;
  tv.tv_usec = (after.count() % 1000) * 1000;
  evtimer_add(ev_, &tv);
}
void Timer::cancel() {
  evtimer_del(ev_);
}
bool Timer::armed() const {
  return evtimer_pending(ev_, nullptr) != 0;
}
void Timer::on_fire(int, short, void* arg) {
  auto* self = static_cast<Timer*>(arg);
  self->fn_();  // may destroy the timer's owner: touch nothing after
}

SignalHandler::SignalHandler(Loop& loop, int signo, std::function<void()> fn) : fn_(std::move(fn)) {
  ev_ = evsignal_new(loop.base(), signo, &SignalHandler::on_signal, this);
  evsignal_add(ev_, nullptr);
}
SignalHandler::~SignalHandler() {
  event_free(ev_);
}
void SignalHandler::on_signal(int, short, void* arg) {
  static_cast<SignalHandler*>(arg)->fn_();
}

}  // namespace hato
