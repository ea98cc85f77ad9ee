// store.h - the durable queue.
//
// The store is the truth about queued mail; everything else (the scheduler,
// counters) can be rebuilt from it. A message is visible only once its bytes,
// envelope and due-index entry are committed together in one synced write.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"

namespace hato::queue {

struct StoredMessage {
  QueueId id;
  Envelope envelope;
};

// Counters for metrics and tests; commit_syncs < commits shows group commit at work.
struct StoreStats {
  uint64_t commits = 0;       // inserts written (or failed) by the committer
  uint64_t commit_syncs = 0;  // synced writes those inserts took
};

// Events to write to the outbox with a change (their JSON, queue/event_json.h).
using OutboxEvents = std::vector<std::string>;

struct OutboxStats {
  uint64_t first = 0;    // the oldest event kept; first == next: none
  uint64_t next = 1;     // the sequence number the next event gets
  uint64_t dropped = 0;  // events dropped beyond the limit since the store opened
};

class Store {
 public:
  virtual ~Store() = default;

  // Commits a new message: bytes, envelope and due entry in one WriteBatch,
  // WAL synced. Commits arriving while a sync runs share the next one (group
  // commit). `done` runs on the committer thread once the write is durable
  // (or failed); callers post back to their own loop. `done` must not destroy
  // the store (the destructor joins the committer thread).
  virtual void insert(const QueueId& id, std::string message, Envelope envelope,
                      std::function<void(Status)> done) = 0;

  // Several new messages handed over at once, so the committer takes them into
  // one synced write rather than waking for the first alone.
  // State records (key, value as put_state() takes them) written in the same batch as a change.
  using StateRecords = std::vector<std::pair<std::string, std::string>>;
  struct NewMessage {
    QueueId id;
    std::string message;
    Envelope envelope;
    std::function<void(Status)> done;
    OutboxEvents events;  // written to the outbox in the same batch
    StateRecords state;   // written to the state family in the same batch (idempotency keys)
  };
  virtual void insert_all(std::vector<NewMessage> messages) {
    for (NewMessage& m : messages)
      insert(m.id, std::move(m.message), std::move(m.envelope), std::move(m.done));
  }

  // Replaces the envelope (state, attempts, next attempt), moving the due entry.
  // Synchronous and synced; for the delivery side.
  virtual Status update(const QueueId& id, const Envelope& envelope) = 0;
  // Removes all traces of a message in one synced write. Both return the error
  // Code::kNotFound ("no such message") when the ID is not in the store.
  virtual Status remove(const QueueId& id) = 0;
  // The same, with events for the outbox written in the same batch.
  virtual Status update_with(const QueueId& id, const Envelope& envelope, OutboxEvents events) {
    (void)events;
    return update(id, envelope);
  }
  virtual Status remove_with(const QueueId& id, OutboxEvents events) {
    (void)events;
    return remove(id);
  }

  // update() and remove() through the committer: grouped with the other
  // writes that arrive meanwhile into one synced batch, with `events` for the
  // outbox. `done` runs on the committer thread. At most one change per
  // message may be outstanding.
  virtual void update_async(const QueueId& id, Envelope envelope, std::function<void(Status)> done,
                            OutboxEvents events = {}) {
    done(update_with(id, envelope, std::move(events)));
  }
  virtual void remove_async(const QueueId& id, std::function<void(Status)> done,
                            OutboxEvents events = {}) {
    done(remove_with(id, std::move(events)));
  }

  // The outbox: events (their JSON) kept for the webhooks until every hook has them, in the
  // order written, each under a sequence number that only grows. Bounded by
  // StoreOptions::outbox_limit: beyond it the oldest are dropped, counted in OutboxStats.
  // Visits the events after `after` (all: 0), up to `limit`; stop by returning false.
  using OutboxVisitor = std::function<bool(uint64_t seq, std::string_view json)>;
  virtual Status outbox_read(uint64_t after, size_t limit, const OutboxVisitor& visit) {
    (void)after;
    (void)limit;
    (void)visit;
    return Status::ok();
  }
  // Removes the events up to and including `seq`, through the committer (not synced by
  // itself: a crash before the next sync sends them again, which is at-least-once), and
  // writes `state` records (key and value as put_state() takes them) in the same batch: the
  // webhooks' cursors, kept off the loop's thread, where a write would wait for a sync.
  virtual void outbox_trim(uint64_t seq, StateRecords state = {}) {
    (void)seq;
    for (const auto& [key, value] : state) (void)put_state(key, value);
  }
  virtual OutboxStats outbox_stats() const { return {}; }

  virtual Result<Envelope> envelope(const QueueId& id) = 0;
  virtual Result<std::string> message(const QueueId& id) = 0;

  // Visits every envelope in ID (time) order; stop by returning false.
  virtual Status for_each(const std::function<bool(const StoredMessage&)>& visit) = 0;
  // The same, starting after `*after` (from the start when null): a long walk
  // (the admin API's listings) resumes in slices without holding an iterator
  // across loop turns. Not pure so that test doubles need not implement it.
  virtual Status for_each_from(const QueueId* after,
                               const std::function<bool(const StoredMessage&)>& visit) {
    return for_each(
        [&](const StoredMessage& m) { return after && m.id <= *after ? true : visit(m); });
  }
  // Visits messages due at or before `now_ms`, in due order, up to `limit`.
  virtual Status for_each_due(int64_t now_ms, size_t limit,
                              const std::function<bool(const QueueId&, int64_t due_ms)>& visit) = 0;
  // The newest ID in the store, to seed the generator at start.
  virtual std::optional<QueueId> newest_id() = 0;

  // Not pure so that test doubles need not implement it.
  virtual StoreStats stats() const { return {}; }

  // Small records of the daemon's own state (warm-up counters, suspensions,
  // blacklist status) in the `state` family, keyed as queue/state_keys.h says.
  // Values are written with the schema's version byte in front and read back
  // without it; a value of an unknown version is an error, never a guess.
  // Written without waiting for a sync: a crash of the process loses
  // nothing (the WAL is in the kernel), a crash of the machine at most the
  // last moments of counting.
  virtual Status put_state(std::string_view key, std::string_view value) {
    (void)key;
    (void)value;
    return Status::error("this store keeps no state");
  }
  // The value under `key`; nullopt when there is none.
  virtual Result<std::optional<std::string>> get_state(std::string_view key) {
    (void)key;
    return std::optional<std::string>();
  }
  virtual Status erase_state(std::string_view key) {
    (void)key;
    return Status::ok();
  }
  // Visits the records whose key starts with `prefix`, in key order, each with its
  // value as get_state() gives it; stop by returning false. A record whose value
  // cannot be read is logged and skipped, so one bad record hides no other.
  using StateVisitor = std::function<bool(std::string_view key, std::string_view value)>;
  virtual Status scan_state(std::string_view prefix, const StateVisitor& visit) {
    (void)prefix;
    (void)visit;
    return Status::error("this store keeps no state");
  }

  // Writes a consistent copy of the whole store to `dir`, which must not exist yet (its parent
  // must), while commits go on: every write acknowledged before the call is in it. The copy is
  // a store of its own that open_rocksdb_store() opens. Blocks for as long as the flush and the
  // copy take (hard links on the same file system, copies elsewhere): not for a loop thread.
  virtual Status checkpoint(const std::string& dir) {
    return Status::error("cannot copy " + dir + ": this store has no checkpoints");
  }
};

struct StoreOptions {
  std::string path;         // directory of the RocksDB database
  size_t max_batch = 1024;  // commits grouped into one synced write at most
  // Message bytes per synced write at most, so a burst of large messages does not
  // build one huge WriteBatch; a single larger message still goes alone.
  size_t max_batch_bytes = 64 << 20;
  // New messages are refused ("No space left", hence 452 4.3.1) rather than
  // written when the queue's file system would keep less than this free:
  // RocksDB itself must never meet ENOSPC (its recovery from a failed WAL write
  // is unreliable in the Debian build, which aborts on assertions).
  uint64_t min_free_bytes = 16 << 20;
  // Events kept in the outbox at most (events.backlog); the oldest go first.
  uint64_t outbox_limit = 1000000;
};

// Opens (creating when needed) the RocksDB queue and starts its committer thread.
Result<std::unique_ptr<Store>> open_rocksdb_store(const StoreOptions& options);

}  // namespace hato::queue
