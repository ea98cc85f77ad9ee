// queue_fill.cc - writes N deferred messages straight into a Hato queue, for
// bench/queue_scale.sh.
//
//   queue_fill --path DIR/queue --messages N [--size BYTES] [--domains D] [--hours H]
//
// Goes through queue::open_rocksdb_store() and Store::insert(), the same
// synced group commit the SMTP side uses, so the records are exactly what
// the daemon would have written; only SMTP is skipped (at 5-8k messages/s it
// would take minutes to fill a million). Each message looks like mail that
// was tried once and deferred: one recipient at one of D domains, created
// evenly over the last H hours (so `queue summary` fills several age
// buckets), a 451 from the remote side, next attempt an hour from now (so
// the daemon stays idle while it is measured). Prints messages/s.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "common/log.h"
#include "queue/store.h"

namespace {

struct Options {
  std::string path;
  size_t messages = 1000000;
  size_t size = 1024;
  size_t domains = 1000;
  int64_t hours = 48;
};

int usage() {
  std::fputs("usage: queue_fill --path DIR --messages N [--size BYTES] [--domains D] [--hours H]\n",
             stderr);
  return 2;
}

// A plausible message of about `size` bytes: a few headers and a body of text lines.
std::string make_message(size_t size, size_t n) {
  std::string m =
      "Received: from app.example.test ([127.0.0.1]) by relay.example.test\r\n"
      "From: Bench <bench@example.test>\r\nTo: someone\r\n"
      "Subject: queue bench " +
      std::to_string(n) + "\r\nMessage-ID: <bench." + std::to_string(n) + "@example.test>\r\n\r\n";
  const std::string line = "The quick brown fox jumps over the lazy dog, again and again.\r\n";
  while (m.size() + line.size() <= size) m += line;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--path") {
      o.path = v;
    } else if (a == "--messages") {
      o.messages = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--size") {
      o.size = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--domains") {
      o.domains = std::max<size_t>(1, std::strtoull(v.c_str(), nullptr, 10));
    } else if (a == "--hours") {
      o.hours = std::strtoll(v.c_str(), nullptr, 10);
    } else {
      return usage();
    }
  }
  if (o.path.empty() || o.messages == 0) return usage();

  auto opened = hato::queue::open_rocksdb_store({o.path});
  if (!opened) {
    std::fprintf(stderr, "queue_fill: %s\n", opened.message().c_str());
    return 1;
  }
  std::unique_ptr<hato::queue::Store> store = std::move(opened.value());
  hato::queue::QueueIdGenerator ids;
  if (auto newest = store->newest_id()) ids.seed(*newest);

  const int64_t now = hato::log::now_ms();
  const int64_t span = o.hours * 3600 * 1000;
  // Enough inserts in flight for the committer to fill its batches, few
  // enough that memory stays small.
  constexpr size_t kInFlight = 8192;
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0, failed = 0;
  std::string first_error;

  auto t0 = std::chrono::steady_clock::now();
  for (size_t n = 0; n < o.messages; ++n) {
    int64_t created = now - span + static_cast<int64_t>(span * n / o.messages);
    hato::queue::QueueId id = ids.next_at(created);
    std::string message = make_message(o.size, n);
    hato::queue::Envelope env;
    env.sender = "bench@example.test";
    std::string domain = "d" + std::to_string(n % o.domains) + ".example";
    hato::queue::Recipient r;
    r.address = "user" + std::to_string(n % 97) + "@" + domain;
    r.attempts.push_back({created + 1000, "mx." + domain + "[192.0.2.1]:25",
                          "451 4.3.0 Temporary failure, please try again later", "opportunistic",
                          "TLSv1.3", "TLS_AES_256_GCM_SHA384"});
    env.recipients.push_back(std::move(r));
    env.created_ms = created;
    env.next_attempt_ms = now + 3600 * 1000 + static_cast<int64_t>(n % 600000);
    env.state = hato::queue::MessageState::kDeferred;
    env.size = message.size();
    env.client = "app.example.test [127.0.0.1]";
    env.listener = "bench";
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < kInFlight; });
      ++in_flight;
    }
    store->insert(id, std::move(message), std::move(env), [&](hato::Status s) {
      std::lock_guard lock(mu);
      --in_flight;
      if (!s) {
        if (failed++ == 0) first_error = s.message();
      }
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto stats = store->stats();
  store.reset();  // closes the database
  if (failed) {
    std::fprintf(stderr, "queue_fill: %zu inserts failed, first: %s\n", failed,
                 first_error.c_str());
    return 1;
  }
  std::printf("filled %zu messages of %zu bytes in %.1f s (%.0f messages/s, %llu synced writes)\n",
              o.messages, o.size, secs, o.messages / secs,
              static_cast<unsigned long long>(stats.commit_syncs));
  return 0;
}
