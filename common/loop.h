// loop.h - an event loop (libevent's event_base) and RAII for its handles.
//
// A Loop runs on one thread. Other threads hand it work with post(), which is
// the only thread-safe member: the committer and the CPU pool use it to wake
// a session on its own loop. No libevent header leaks out of here.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

struct event_base;
struct event;

namespace hato {

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  event_base* base() const { return base_; }
  void run();   // until stop()
  void stop();  // thread-safe
  // Runs fn on the loop thread, soon. Thread-safe.
  void post(std::function<void()> fn);
  // Runs fn on the loop after a delay. Loop thread only.
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

 private:
  static void on_wakeup(int, short, void* arg);
  event_base* base_;
  event* wakeup_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  std::unordered_set<void*> timers_;  // after() callbacks not yet run
};

// A one-shot or repeating timer on a loop; cancelled when destroyed.
class Timer {
 public:
  Timer(Loop& loop, std::function<void()> fn);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void arm(std::chrono::milliseconds after);
  void cancel();
  bool armed() const;

 private:
  static void on_fire(int, short, void* arg);
  event* ev_;
  std::function<void()> fn_;
};

// Calls fn when the process gets `signo`, on the loop.
class SignalHandler {
 public:
  SignalHandler(Loop& loop, int signo, std::function<void()> fn);
  ~SignalHandler();
  SignalHandler(const SignalHandler&) = delete;
  SignalHandler& operator=(const SignalHandler&) = delete;

 private:
  static void on_signal(int, short, void* arg);
  event* ev_;
  std::function<void()> fn_;
};

}  // namespace hato
