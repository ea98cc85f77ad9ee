// worker_pool.cc - a plain mutex-and-condition-variable thread pool.
#include "common/worker_pool.h"

#include <pthread.h>

namespace hato {

WorkerPool::WorkerPool(unsigned threads) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() {
  finish();
}

void WorkerPool::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void WorkerPool::post(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void WorkerPool::run() {
  pthread_setname_np(pthread_self(), "hato-worker");  // as `top -H` and perf show it
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;  // stopping, and nothing left
      work = std::move(work_.front());
      work_.pop_front();
    }
    work();
  }
}

}  // namespace hato
