// accept_guard.h - keeps a listening socket from spinning the loop when the process is out of
// file descriptors, and the descriptor limit raised at start.
//
// When accept() fails with EMFILE or ENFILE the connection stays in the kernel's queue and the
// listening socket stays readable: libevent would call accept() again at once, forever, and log
// every failure ("Error from accept() call: Too many open files"). The guard pauses that one
// listener instead, so the loop goes on serving the connections it has, and tries again after a
// moment; it logs one line per listener at most every 10 seconds (with how many pauses it saw)
// and counts each pause in hato_accept_paused_total{listener}.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "common/loop.h"

struct evconnlistener;

namespace hato::net {

class AcceptGuard {
 public:
  // `listener` must outlive the guard; `name` is the listener's name for logs and metrics.
  AcceptGuard(Loop& loop, evconnlistener* listener, std::string name);
  ~AcceptGuard();
  AcceptGuard(const AcceptGuard&) = delete;
  AcceptGuard& operator=(const AcceptGuard&) = delete;

  // How long the listener rests after a failed accept().
  static constexpr std::chrono::milliseconds kPause{200};

 private:
  static void on_error(evconnlistener* listener, void* arg);
  void failed(int error);
  void resume();

  evconnlistener* listener_;
  std::string name_;
  Timer resume_timer_;
  int64_t last_log_ms_ = 0;
  size_t unlogged_ = 0;  // pauses since the last log line
};

struct DescriptorLimit {
  uint64_t before = 0;  // the soft limit the process started with
  uint64_t soft = 0;    // the soft limit now
  uint64_t hard = 0;
};

// Raises the soft RLIMIT_NOFILE to the hard limit (a daemon with thousands of connections needs
// more than the usual 1024).
DescriptorLimit raise_descriptor_limit();

// libevent's own warnings go to Hato's log, at most a few lines a second (a storm of them, as
// accept() failures once made, cannot fill the disk).
void route_libevent_log();

}  // namespace hato::net
