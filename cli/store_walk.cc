// store_walk.cc - slices of a store walk.
#include "cli/store_walk.h"

#include <chrono>

namespace hato::cli {

namespace {

using Clock = std::chrono::steady_clock;

// One slice ends after this many messages or this much time, whichever comes first.
constexpr size_t kSliceMessages = 4096;
constexpr auto kSliceTime = std::chrono::milliseconds(10);

struct Walk : std::enable_shared_from_this<Walk> {
  Loop& loop;
  queue::Store& store;
  std::shared_ptr<bool> alive;
  std::function<bool(const queue::StoredMessage&)> visit;
  std::function<void(Status)> done;
  std::optional<queue::QueueId> cursor;

  Walk(Loop& l, queue::Store& s, std::shared_ptr<bool> a,
       std::function<bool(const queue::StoredMessage&)> v, std::function<void(Status)> d)
      : loop(l), store(s), alive(std::move(a)), visit(std::move(v)), done(std::move(d)) {}

  void step() {
    if (!*alive) return;
    WalkSlice slice = walk_slice(store, cursor, visit, {});
    if (slice.more && slice.status) {
      loop.post([self = shared_from_this()] { self->step(); });
      return;
    }
    done(slice.status);
  }
};

}  // namespace

WalkSlice walk_slice(queue::Store& store, std::optional<queue::QueueId>& cursor,
                     const std::function<bool(const queue::StoredMessage&)>& visit,
                     const std::function<bool()>& full) {
  Clock::time_point until = Clock::now() + kSliceTime;
  size_t seen = 0;
  WalkSlice out;
  out.status = store.for_each_from(cursor ? &*cursor : nullptr, [&](const queue::StoredMessage& m) {
    cursor = m.id;
    if (!visit(m)) {
      out.stopped = true;
      return false;
    }
    ++seen;
    if (seen >= kSliceMessages || (full && full()) || (seen % 64 == 0 && Clock::now() > until)) {
      out.more = true;
      return false;
    }
    return true;
  });
  return out;
}

void walk_store(Loop& loop, queue::Store& store, std::shared_ptr<bool> alive,
                std::function<bool(const queue::StoredMessage&)> visit,
                std::function<void(Status)> done) {
  std::make_shared<Walk>(loop, store, std::move(alive), std::move(visit), std::move(done))->step();
}

}  // namespace hato::cli
