// store_walk.h - walking the whole queue store without holding the loop: a slice at a time
// (a few milliseconds or a few thousand messages), the loop serving SMTP in between. The
// admin API's listings and summaries (admin_queue.cc) and the dashboard's pages use it.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "common/loop.h"
#include "common/status.h"
#include "queue/store.h"

namespace hato::cli {

// One slice, from after `cursor` (unset: the first message); `cursor` is left at the last
// message seen. `visit` false stops the walk; `full` (may be empty) ends the slice early.
struct WalkSlice {
  Status status = Status::ok();
  bool stopped = false;  // visit() said stop
  bool more = false;     // the slice ended before the store did: call again
};
WalkSlice walk_slice(queue::Store& store, std::optional<queue::QueueId>& cursor,
                     const std::function<bool(const queue::StoredMessage&)>& visit,
                     const std::function<bool()>& full);

// A whole walk on the loop: slices, each run from a posted task, then `done` with the status.
// The walk holds itself until done; `done` is not called if `alive` is false by then.
void walk_store(Loop& loop, queue::Store& store, std::shared_ptr<bool> alive,
                std::function<bool(const queue::StoredMessage&)> visit,
                std::function<void(Status)> done);

}  // namespace hato::cli
