// rocksdb_store.cc - the durable queue on RocksDB, with a group-commit thread.
//
// One database, five column families (see DESIGN.md):
//   messages   id key -> message bytes (large values go to blob files)
//   envelopes  id key -> encode(envelope)
//   due        8-byte big-endian next attempt ms + id key -> empty
//   state      the daemon's own records, keyed as queue/state_keys.h says
//   events     8-byte big-endian sequence number -> an event's JSON (the webhooks' outbox)
// Every change to a message writes its families in one WriteBatch with the WAL
// synced, so a crash leaves either all of a change or none of it; the events
// that describe the change are in the same batch.
//
// The outbox is a family of its own rather than a kind in `state`: it is a queue
// (appended at the back, deleted from the front with one range deletion), written
// in the committer's synced batches, while `state` holds small records written
// unsynced and scanned by prefix; apart, neither walks the other's tombstones and
// the outbox's order is simply its key order.
//
// Inserts go through one committer thread: it takes every request queued while
// the previous sync ran and writes them in one synced batch, so N concurrent
// sessions pay for about one fsync instead of N. update() and remove() write
// directly from the caller's thread; they only touch existing messages, which
// an insert never does, so they need no ordering against the committer.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <utility>

#include "common/files.h"
#include "common/log.h"
#include "queue/outbox_tail.h"
#include "queue/rocksdb_open.h"
#include "queue/rocksdb_support.h"
#include "queue/state_keys.h"
#include "queue/store.h"

namespace hato::queue {

namespace {

constexpr size_t kDueTimeBytes = 8;
constexpr size_t kIdBytes = sizeof(QueueId::bytes);
constexpr char kNoSuchMessage[] = "no such message";

// due_key - the scheduler index entry for an envelope, or none when nothing
// is to be attempted: the message is held or every recipient is final.
std::optional<std::string> due_key(const QueueId& id, const Envelope& e) {
  if (e.state == MessageState::kHeld) return std::nullopt;
  bool pending = std::any_of(e.recipients.begin(), e.recipients.end(),
                             [](const Recipient& r) { return r.state == RcptState::kPending; });
  if (!pending) return std::nullopt;
  // A negative time would sort after every real one as unsigned; it means "now".
  std::string key = big_endian64(static_cast<uint64_t>(std::max<int64_t>(e.next_attempt_ms, 0)));
  key.append(id.key());
  return key;
}

// One change for the committer: a new message, a new envelope, a removal, or the
// outbox trimmed up to a sequence number.
struct InsertRequest {
  enum class Kind { kInsert, kUpdate, kRemove, kTrim };
  QueueId id;
  std::string message;
  std::string envelope;  // encoded on the caller's thread, off the committer
  std::optional<std::string> due;
  std::function<void(Status)> done;
  Kind kind = Kind::kInsert;
  OutboxEvents events;        // written with the change
  uint64_t trim_through = 0;  // kTrim
  Store::StateRecords state;  // kTrim and kInsert: written with it
};

// How long removals may wait for a synced write to carry them before the
// committer syncs them itself.
constexpr std::chrono::seconds kSyncRemovalsAfter{1};

// The outbox's newest events kept in memory for the webhooks (queue/outbox_tail.h).
constexpr size_t kTailBytes = 8 << 20;

class RocksDbStore final : public Store {
 public:
  RocksDbStore(std::unique_ptr<QueueDb> db, const StoreOptions& options)
      : db_(options.path, std::move(db)),
        max_batch_(std::max<size_t>(options.max_batch, 1)),
        max_batch_bytes_(options.max_batch_bytes),
        path_(options.path),
        min_free_bytes_(options.min_free_bytes),
        outbox_limit_(std::max<uint64_t>(options.outbox_limit, 1)),
        outbox_first_(outbox_edge(/*last=*/false)),
        outbox_next_(outbox_edge(/*last=*/true)),
        committer_([this] { commit_loop(); }) {}

  ~RocksDbStore() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    committer_.join();  // completes every queued insert first
  }

  void insert(const QueueId& id, std::string message, Envelope envelope,
              std::function<void(Status)> done) override {
    enqueue(new_message(id, std::move(message), envelope, std::move(done)));
  }

  void insert_all(std::vector<NewMessage> messages) override {
    std::vector<InsertRequest> requests;
    requests.reserve(messages.size());
    for (NewMessage& m : messages) {
      requests.push_back(new_message(m.id, std::move(m.message), m.envelope, std::move(m.done)));
      requests.back().events = std::move(m.events);
      requests.back().state = std::move(m.state);
    }
    enqueue(requests);
  }

  // The committer's request for a new message; the envelope is encoded here, off the committer.
  static InsertRequest new_message(const QueueId& id, std::string message, const Envelope& envelope,
                                   std::function<void(Status)> done) {
    return InsertRequest{id,
                         std::move(message),
                         encode(envelope),
                         due_key(id, envelope),
                         std::move(done),
                         InsertRequest::Kind::kInsert,
                         {},
                         0,
                         {}};
  }

  void enqueue(InsertRequest request) { enqueue(std::span<InsertRequest>(&request, 1)); }

  // Queued together under one lock: the committer sees all of them or none.
  void enqueue(std::span<InsertRequest> requests) {
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        for (InsertRequest& r : requests) pending_.push_back(std::move(r));
        cv_.notify_one();
        return;
      }
    }
    // Only reachable when insert races the destructor, which is a caller bug.
    for (InsertRequest& r : requests)
      if (r.done) r.done(Status::error(Code::kUnavailable, "queue write failed: store is closing"));
  }

  void update_async(const QueueId& id, Envelope envelope, std::function<void(Status)> done,
                    OutboxEvents events) override {
    enqueue(InsertRequest{id,
                          {},
                          encode(envelope),
                          due_key(id, envelope),
                          std::move(done),
                          InsertRequest::Kind::kUpdate,
                          std::move(events),
                          0,
                          {}});
  }

  void remove_async(const QueueId& id, std::function<void(Status)> done,
                    OutboxEvents events) override {
    enqueue(InsertRequest{id,
                          {},
                          {},
                          std::nullopt,
                          std::move(done),
                          InsertRequest::Kind::kRemove,
                          std::move(events),
                          0,
                          {}});
  }

  void outbox_trim(uint64_t seq, StateRecords state) override {
    InsertRequest r;
    r.kind = InsertRequest::Kind::kTrim;
    r.trim_through = seq;
    r.state = std::move(state);
    enqueue(std::move(r));
  }

  Status outbox_read(uint64_t after, size_t limit, const OutboxVisitor& visit) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    if (limit == 0) return Status::ok();
    // From the first kept event: the range deletions before it are not walked.
    uint64_t from = std::max(after + 1, outbox_first_.load());
    if (auto recent = tail_.read(from, limit)) {
      for (const auto& [seq, json] : *recent)
        if (!visit(seq, json)) break;
      return Status::ok();
    }
    std::string start = big_endian64(from);
    rocksdb::ReadOptions ro;
    std::unique_ptr<rocksdb::Iterator> it(d->db().NewIterator(ro, d->cf(kEvents)));
    size_t seen = 0;
    for (it->Seek(start); it->Valid() && seen < limit; it->Next()) {
      std::string_view key = view(it->key());
      if (key.size() != kDueTimeBytes) continue;
      ++seen;
      if (!visit(read_big_endian64(key), view(it->value()))) break;
    }
    return it->status().ok() ? Status::ok() : read_error(it->status());
  }

  OutboxStats outbox_stats() const override {
    return {outbox_first_.load(), outbox_next_.load(), outbox_dropped_.load()};
  }

  Status update(const QueueId& id, const Envelope& envelope) override {
    return update_with(id, envelope, {});
  }

  Status remove(const QueueId& id) override { return remove_with(id, {}); }

  Status update_with(const QueueId& id, const Envelope& envelope, OutboxEvents events) override {
    std::lock_guard lock(mutate_mu_);
    if (!db_.locked()) return reopening();
    Result<std::vector<std::string>> old_due = due_keys_of(id);
    if (!old_due) return old_due.status();
    std::optional<std::string> new_due = due_key(id, envelope);
    rocksdb::WriteBatch batch;
    rocksdb::Status s;
    for (const std::string& key : *old_due) {
      if (key != new_due && s.ok()) s = batch.Delete(cf(kDue), key);
    }
    if (s.ok()) s = batch.Put(cf(kEnvelopes), id.key(), encode(envelope));
    if (s.ok() && new_due) s = batch.Put(cf(kDue), *new_due, rocksdb::Slice());
    return write_with_events(batch, s, events);
  }

  Status remove_with(const QueueId& id, OutboxEvents events) override {
    std::lock_guard lock(mutate_mu_);
    if (!db_.locked()) return reopening();
    Result<std::vector<std::string>> old_due = due_keys_of(id);
    if (!old_due) return old_due.status();
    rocksdb::WriteBatch batch;
    rocksdb::Status s = batch.Delete(cf(kMessages), id.key());
    if (s.ok()) s = batch.Delete(cf(kEnvelopes), id.key());
    for (const std::string& key : *old_due) {
      if (s.ok()) s = batch.Delete(cf(kDue), key);
    }
    return write_with_events(batch, s, events);
  }

  Result<Envelope> envelope(const QueueId& id) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    std::string value;
    rocksdb::Status s = d->db().Get(rocksdb::ReadOptions(), d->cf(kEnvelopes), id.key(), &value);
    if (s.IsNotFound()) return Result<Envelope>::error(Code::kNotFound, kNoSuchMessage);
    if (!s.ok()) return read_error(s);
    Result<Envelope> e = decode(value);
    if (!e) return Result<Envelope>::error("queue record " + id.str() + ": " + e.message());
    return e;
  }

  Result<std::string> message(const QueueId& id) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    std::string value;
    rocksdb::Status s = d->db().Get(rocksdb::ReadOptions(), d->cf(kMessages), id.key(), &value);
    if (s.IsNotFound()) return Result<std::string>::error(Code::kNotFound, kNoSuchMessage);
    if (!s.ok()) return read_error(s);
    return value;
  }

  Status for_each(const std::function<bool(const StoredMessage&)>& visit) override {
    return for_each_from(nullptr, visit);
  }

  Status for_each_from(const QueueId* after,
                       const std::function<bool(const StoredMessage&)>& visit) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    std::unique_ptr<rocksdb::Iterator> it(
        d->db().NewIterator(rocksdb::ReadOptions(), d->cf(kEnvelopes)));
    if (after) {
      it->Seek(rocksdb::Slice(after->key().data(), after->key().size()));
      if (it->Valid() && view(it->key()) == after->key()) it->Next();
    } else {
      it->SeekToFirst();
    }
    for (; it->Valid(); it->Next()) {
      std::optional<QueueId> id = QueueId::from_key(view(it->key()));
      if (!id) {
        log::error("queue record skipped", {{"id", hex(view(it->key()))}, {"reason", "bad key"}});
        continue;
      }
      Result<Envelope> e = decode(view(it->value()));
      if (!e) {
        // One unreadable record must not keep the rest of the queue from starting.
        log::error("queue record skipped", {{"id", id->str()}, {"reason", e.message()}});
        continue;
      }
      if (!visit(StoredMessage{*id, std::move(e).value()})) break;
    }
    return it->status().ok() ? Status::ok() : read_error(it->status());
  }

  Status for_each_due(int64_t now_ms, size_t limit,
                      const std::function<bool(const QueueId&, int64_t)>& visit) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    if (now_ms < 0 || limit == 0) return Status::ok();
    // Declared before the iterator, which keeps a pointer to it. The bound stops
    // the walk at the first future entry instead of running through tombstones
    // of moved entries further on.
    std::string bound = big_endian64(static_cast<uint64_t>(now_ms) + 1);
    rocksdb::Slice bound_slice(bound);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &bound_slice;
    std::unique_ptr<rocksdb::Iterator> it(d->db().NewIterator(ro, d->cf(kDue)));
    size_t seen = 0;
    for (it->SeekToFirst(); it->Valid() && seen < limit; it->Next()) {
      std::string_view key = view(it->key());
      std::optional<QueueId> id;
      if (key.size() == kDueTimeBytes + kIdBytes) id = QueueId::from_key(key.substr(kDueTimeBytes));
      if (!id) {
        log::error("queue due entry skipped", {{"id", hex(key)}, {"reason", "bad key"}});
        continue;
      }
      ++seen;
      if (!visit(*id, static_cast<int64_t>(read_big_endian64(key)))) break;
    }
    return it->status().ok() ? Status::ok() : read_error(it->status());
  }

  std::optional<QueueId> newest_id() override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return std::nullopt;
    std::unique_ptr<rocksdb::Iterator> it(
        d->db().NewIterator(rocksdb::ReadOptions(), d->cf(kEnvelopes)));
    for (it->SeekToLast(); it->Valid(); it->Prev()) {
      if (std::optional<QueueId> id = QueueId::from_key(view(it->key()))) return id;
    }
    // The caller cannot tell "empty" from "failed"; at least say so in the log.
    if (!it->status().ok()) log::error("queue read failed", {{"reason", it->status().ToString()}});
    return std::nullopt;
  }

  Status put_state(std::string_view key, std::string_view value) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    rocksdb::WriteOptions unsynced;
    std::string stored = state::encode_value(value);
    rocksdb::Status s = d->db().Put(unsynced, d->cf(kState), rocksdb::Slice(key.data(), key.size()),
                                    rocksdb::Slice(stored));
    return s.ok() ? Status::ok() : write_error(s);
  }

  Result<std::optional<std::string>> get_state(std::string_view key) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    std::string stored;
    rocksdb::Status s = d->db().Get(rocksdb::ReadOptions(), d->cf(kState),
                                    rocksdb::Slice(key.data(), key.size()), &stored);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return read_error(s);
    Result<std::string> value = state::decode_value(key, stored);
    if (!value) return value.status();
    return std::optional<std::string>(std::move(value).value());
  }

  Status erase_state(std::string_view key) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    rocksdb::Status s = d->db().Delete(rocksdb::WriteOptions(), d->cf(kState),
                                       rocksdb::Slice(key.data(), key.size()));
    return s.ok() ? Status::ok() : write_error(s);
  }

  // The upper bound keeps the iterator off the tombstones past the prefix; the prefix
  // check is what decides (an empty prefix, or one of 0xff bytes, has no bound).
  Status scan_state(std::string_view prefix, const StateVisitor& visit) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    rocksdb::ReadOptions ro;
    std::string bound = prefix_successor(prefix);
    rocksdb::Slice bound_slice(bound);
    if (!bound.empty()) ro.iterate_upper_bound = &bound_slice;
    std::unique_ptr<rocksdb::Iterator> it(d->db().NewIterator(ro, d->cf(kState)));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
      std::string_view key = view(it->key());
      if (!key.starts_with(prefix)) break;
      Result<std::string> value = state::decode_value(key, view(it->value()));
      if (!value) {
        log::error("state record unreadable, skipped",
                   {{"key", std::string(key)}, {"reason", value.message()}});
        continue;
      }
      if (!visit(key, *value)) break;
    }
    return it->status().ok() ? Status::ok() : read_error(it->status());
  }

  StoreStats stats() const override {
    return {commits_.load(std::memory_order_relaxed), syncs_.load(std::memory_order_relaxed)};
  }

  Status checkpoint(const std::string& dir) override {
    std::shared_ptr<QueueDb> d = current();
    if (!d) return reopening();
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(&d->db(), &raw);
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // log_size_for_flush 0: the memtables are flushed first, so the copy holds every synced
    // write in its tables and a restore has no WAL to replay.
    if (s.ok()) s = checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0);
    if (!s.ok()) return Status::error("queue checkpoint into " + dir + " failed: " + s.ToString());
    return Status::ok();
  }

 private:
  // The committer, and update()/remove() under mutate_mu_, use the database itself: only the
  // committer replaces it, and under mutate_mu_. Other readers hold it (current()) for a call.
  rocksdb::ColumnFamilyHandle* cf(Family f) const { return db_.locked()->cf(f); }
  rocksdb::DB& db() const { return db_.locked()->db(); }
  std::shared_ptr<QueueDb> current() const { return db_.current(); }
  static Status reopening() {
    return Status::error(Code::kUnavailable,
                         "queue unavailable: being opened again after a disk failure");
  }

  // outbox_edge - from what the outbox holds at start: the next sequence number (last), or
  // the first one kept (the next one when it is empty).
  uint64_t outbox_edge(bool last) const {
    std::unique_ptr<rocksdb::Iterator> it(db().NewIterator(rocksdb::ReadOptions(), cf(kEvents)));
    if (last) {
      it->SeekToLast();
    } else {
      it->SeekToFirst();
    }
    if (!it->status().ok())
      log::error("queue read failed", {{"reason", "outbox: " + it->status().ToString()}});
    if (!it->Valid() || it->key().size() != kDueTimeBytes) return last ? 1 : outbox_edge(true);
    uint64_t seq = read_big_endian64(view(it->key()));
    return last ? seq + 1 : seq;
  }

  // Outbox sequence numbers as the batch being built sees them (mutate_mu_ held); they become
  // the store's only once the batch is written.
  struct OutboxCursor {
    uint64_t first, next, dropped = 0;
  };
  OutboxCursor outbox_cursor() const { return {outbox_first_.load(), outbox_next_.load()}; }

  // append_events - the events under the next sequence numbers; `written` gathers them for
  // the tail once the batch is written.
  rocksdb::Status append_events(rocksdb::WriteBatch& wb, OutboxEvents& events, OutboxCursor& c,
                                std::vector<OutboxEvents*>& written) {
    rocksdb::Status s;
    for (const std::string& json : events) {
      if (!s.ok()) break;
      s = wb.Put(cf(kEvents), big_endian64(c.next++), json);
    }
    if (!events.empty()) written.push_back(&events);
    return s;
  }

  // trim_outbox - drops everything up to `through` from the front of the outbox.
  rocksdb::Status trim_outbox(rocksdb::WriteBatch& wb, uint64_t through, OutboxCursor& c) {
    uint64_t end = std::min(through + 1, c.next);
    if (end <= c.first) return rocksdb::Status::OK();
    rocksdb::Status s = wb.DeleteRange(cf(kEvents), big_endian64(c.first), big_endian64(end));
    if (s.ok()) c.first = end;
    return s;
  }

  // bound_outbox - the oldest events beyond the limit go, counted and logged once per batch.
  rocksdb::Status bound_outbox(rocksdb::WriteBatch& wb, OutboxCursor& c) {
    if (c.next - c.first <= outbox_limit_) return rocksdb::Status::OK();
    uint64_t drop = c.next - c.first - outbox_limit_;
    rocksdb::Status s = trim_outbox(wb, c.first + drop - 1, c);
    if (s.ok()) c.dropped += drop;
    return s;
  }

  // The batch is written: its sequence numbers are the store's now, its events the tail's.
  // (Moved there: the requests are done with them.)
  void commit_outbox(const OutboxCursor& c, const std::vector<OutboxEvents*>& written) {
    if (!written.empty()) {
      std::vector<std::string> events;
      for (OutboxEvents* list : written)
        events.insert(events.end(), std::make_move_iterator(list->begin()),
                      std::make_move_iterator(list->end()));
      tail_.append(outbox_next_.load(), std::move(events));
    }
    tail_.trim(c.first);
    outbox_first_ = c.first;
    outbox_next_ = c.next;
    if (c.dropped) {
      outbox_dropped_ += c.dropped;
      log::warning("events dropped", {{"count", std::to_string(c.dropped)},
                                      {"reason", "the webhooks' backlog is over its limit of " +
                                                     std::to_string(outbox_limit_) + " events"}});
    }
  }

  // write_with_events - a synchronous change with its events, synced (mutate_mu_ held).
  Status write_with_events(rocksdb::WriteBatch& batch, rocksdb::Status s, OutboxEvents& events) {
    OutboxCursor c = outbox_cursor();
    std::vector<OutboxEvents*> written;
    if (s.ok()) s = append_events(batch, events, c, written);
    if (s.ok()) s = bound_outbox(batch, c);
    if (db_.broken()) return write_error(db_.reason());
    if (s.ok()) {
      s = db().Write(synced(), &batch);
      if (!s.ok()) db_.failed(s, /*reopen=*/false);
    }
    if (!s.ok()) return write_error(s);
    commit_outbox(c, written);
    return Status::ok();
  }

  // due_keys_of - the due entries of an existing message, to delete them.
  Result<std::vector<std::string>> due_keys_of(const QueueId& id) {
    std::string value;
    rocksdb::Status s = db().Get(rocksdb::ReadOptions(), cf(kEnvelopes), id.key(), &value);
    if (s.IsNotFound())
      return Result<std::vector<std::string>>::error(Code::kNotFound, kNoSuchMessage);
    if (!s.ok()) return read_error(s);
    std::vector<std::string> keys;
    if (Result<Envelope> old = decode(value)) {
      if (std::optional<std::string> key = due_key(id, *old)) keys.push_back(std::move(*key));
      return keys;
    }
    // The old envelope is unreadable, so its due time is unknown: find the
    // entry by scanning the index, so that it can still be replaced or removed.
    log::warning("queue record unreadable, scanning due index", {{"id", id.str()}});
    std::unique_ptr<rocksdb::Iterator> it(db().NewIterator(rocksdb::ReadOptions(), cf(kDue)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key = view(it->key());
      if (key.size() == kDueTimeBytes + kIdBytes && key.substr(kDueTimeBytes) == id.key()) {
        keys.emplace_back(key);
      }
    }
    if (!it->status().ok()) return read_error(it->status());
    return keys;
  }

  // commit_loop - the committer thread: write whatever is queued, repeat.
  void commit_loop() {
    pthread_setname_np(pthread_self(), "hato-commit");
    std::vector<InsertRequest> batch;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        auto ready = [this] { return stopping_ || !pending_.empty(); };
        if (db_.broken() && !cv_.wait_until(lock, db_.next_recovery(), ready)) {
          lock.unlock();
          recover();
          continue;
        }
        if (unsynced_ && !db_.broken() && !cv_.wait_for(lock, kSyncRemovalsAfter, ready)) {
          // Quiet since the last removals: make them durable now, so a power cut
          // later does not deliver those messages again.
          lock.unlock();
          sync_removals();
          continue;
        }
        cv_.wait(lock, ready);
        if (pending_.empty()) {  // stopping, and nothing left to complete
          if (unsynced_ && !db_.broken()) sync_removals();
          return;
        }
        size_t bytes = 0;
        while (!pending_.empty() && batch.size() < max_batch_ &&
               (batch.empty() || bytes + pending_.front().message.size() <= max_batch_bytes_)) {
          bytes += pending_.front().message.size();
          batch.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
      }
      commit(batch);
      batch.clear();
    }
  }

  // sync_removals - makes the removals written since the last synced write durable.
  void sync_removals() {
    rocksdb::Status s = db().SyncWAL();
    if (s.ok()) {
      unsynced_ = false;
      syncs_.fetch_add(1, std::memory_order_relaxed);
    } else {
      // The removals are written, not lost; but a WAL whose sync failed is not trusted again.
      std::lock_guard mutate(mutate_mu_);
      db_.failed(s, /*reopen=*/true);
    }
  }

  // recover - the committer's attempt to leave the read-only state (QueueDbHolder).
  void recover() {
    std::lock_guard mutate(mutate_mu_);
    if (db_.recover() != QueueDbHolder::Recovery::kReopened) return;
    outbox_first_ = outbox_edge(/*last=*/false);
    outbox_next_ = outbox_edge(/*last=*/true);
    unsynced_ = false;  // the opening replayed the WAL into new files
  }

  // check_space - whether the new messages of a batch fit while keeping
  // min_free_bytes_ free. Sessions that passed the check at MAIL together can
  // still bring more than the disk holds; they are refused here, before
  // RocksDB writes and meets ENOSPC. Envelope changes and removals always go.
  rocksdb::Status check_space(const std::vector<InsertRequest>& batch) const {
    uint64_t bytes = 0;
    for (const InsertRequest& r : batch) {
      if (r.kind == InsertRequest::Kind::kInsert) bytes += r.message.size() + r.envelope.size();
    }
    struct statvfs fs;
    if (bytes == 0 || ::statvfs(path_.c_str(), &fs) != 0) return rocksdb::Status::OK();
    uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes >= bytes + min_free_bytes_) return rocksdb::Status::OK();
    return rocksdb::Status::NoSpace(
        "No space left on the queue's disk: " + std::to_string(free_bytes) + " bytes free, " +
        std::to_string(bytes) + " to write, " + std::to_string(min_free_bytes_) + " kept free");
  }

  // add_to_batch - one request's writes; `outcome` is set when it fails alone (an update or
  // removal of a message that is gone).
  rocksdb::Status add_to_batch(rocksdb::WriteBatch& wb, InsertRequest& r, OutboxCursor& outbox,
                               std::vector<OutboxEvents*>& written, Status* outcome) {
    rocksdb::Status s;
    if (r.kind == InsertRequest::Kind::kTrim) {
      s = trim_outbox(wb, r.trim_through, outbox);
      return put_records(wb, r.state, s);
    }
    if (r.kind == InsertRequest::Kind::kInsert) {
      s = wb.Put(cf(kMessages), r.id.key(), r.message);
      if (s.ok()) s = wb.Put(cf(kEnvelopes), r.id.key(), r.envelope);
      if (s.ok() && r.due) s = wb.Put(cf(kDue), *r.due, rocksdb::Slice());
      if (s.ok()) s = append_events(wb, r.events, outbox, written);
      return put_records(wb, r.state, s);
    }
    Result<std::vector<std::string>> old_due = due_keys_of(r.id);
    if (!old_due) {
      *outcome = old_due.status();
      return s;
    }
    for (const std::string& key : *old_due) {
      if (s.ok() && key != r.due) s = wb.Delete(cf(kDue), key);
    }
    if (r.kind == InsertRequest::Kind::kRemove) {
      if (s.ok()) s = wb.Delete(cf(kMessages), r.id.key());
      if (s.ok()) s = wb.Delete(cf(kEnvelopes), r.id.key());
    } else {
      if (s.ok()) s = wb.Put(cf(kEnvelopes), r.id.key(), r.envelope);
      if (s.ok() && r.due) s = wb.Put(cf(kDue), *r.due, rocksdb::Slice());
    }
    if (s.ok()) s = append_events(wb, r.events, outbox, written);
    return s;
  }

  // put_records - state records that go with a change, after it (`s`) succeeded.
  rocksdb::Status put_records(rocksdb::WriteBatch& wb, const Store::StateRecords& records,
                              rocksdb::Status s) {
    for (const auto& [key, value] : records) {
      if (s.ok()) s = wb.Put(cf(kState), key, state::encode_value(value));
    }
    return s;
  }

  // commit - one synced write for the batch, then tell each waiter.
  void commit(std::vector<InsertRequest>& batch) {
    rocksdb::WriteBatch wb;
    rocksdb::Status s;
    // Changes to existing messages read their old due entries first; the
    // lock keeps the synchronous update()/remove() out meanwhile.
    if (db_.broken() && std::chrono::steady_clock::now() >= db_.next_recovery()) recover();
    std::unique_lock mutate(mutate_mu_);
    if (db_.broken()) {
      // Read-only: nothing is written until recover() succeeds (a 4xx for new mail).
      Status refused = write_error(db_.reason());
      mutate.unlock();
      for (InsertRequest& r : batch)
        if (r.done) r.done(refused);
      return;
    }
    std::vector<Status> outcome(batch.size(), Status::ok());
    OutboxCursor outbox = outbox_cursor();
    std::vector<OutboxEvents*> written;
    s = check_space(batch);
    for (size_t i = 0; i < batch.size() && s.ok(); ++i)
      s = add_to_batch(wb, batch[i], outbox, written, &outcome[i]);
    if (s.ok()) s = bound_outbox(wb, outbox);
    bool wrote = s.ok();
    if (wrote) {
      // Removals alone need no sync of their own: the write reaches the kernel, so
      // a crash of the process keeps it, and the next synced write (or the quiet
      // timer) makes it durable. A power cut before that delivers again, never
      // loses. New messages and changed envelopes are synced before `done`.
      // Trims of the outbox are like removals: a crash that loses one sends events again.
      bool removals_only = std::all_of(batch.begin(), batch.end(), [](const InsertRequest& r) {
        return r.kind == InsertRequest::Kind::kRemove || r.kind == InsertRequest::Kind::kTrim;
      });
      s = db().Write(removals_only ? rocksdb::WriteOptions() : synced(), &wb);
      if (!removals_only) syncs_.fetch_add(1, std::memory_order_relaxed);
      if (s.ok()) unsynced_ = removals_only;  // a failed write leaves nothing new to sync
      if (s.ok()) commit_outbox(outbox, written);
    }
    commits_.fetch_add(batch.size(), std::memory_order_relaxed);
    if (wrote && !s.ok()) db_.failed(s, /*reopen=*/false);
    Status result = s.ok() ? Status::ok() : write_error(s);
    if (!s.ok()) {
      log::error("queue write failed",
                 {{"reason", s.ToString()}, {"messages", std::to_string(batch.size())}});
    }
    mutate.unlock();
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done) batch[i].done(result.is_ok() ? outcome[i] : result);
    }
  }

  QueueDbHolder db_;  // the database, and the read-only state after a disk failure
  const size_t max_batch_;
  const size_t max_batch_bytes_;
  const std::string path_;
  const uint64_t min_free_bytes_;
  const uint64_t outbox_limit_;
  // The outbox's extent: written under mutate_mu_ once a batch is written, read anywhere.
  std::atomic<uint64_t> outbox_first_{1};
  std::atomic<uint64_t> outbox_next_{1};
  std::atomic<uint64_t> outbox_dropped_{0};
  OutboxTail tail_{outbox_next_.load(), kTailBytes};

  std::mutex mu_;  // guards pending_ and stopping_
  std::condition_variable cv_;
  std::deque<InsertRequest> pending_;
  bool stopping_ = false;

  // Serialises update() and remove(): each reads the old due key and then
  // replaces it, which must not interleave with another change to the message.
  std::mutex mutate_mu_;
  bool unsynced_ = false;  // committer thread only: removals written but not synced yet

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> syncs_{0};

  std::thread committer_;  // last: starts once everything above exists
};

}  // namespace

Result<std::unique_ptr<Store>> open_rocksdb_store(const StoreOptions& options) {
  using OpenResult = Result<std::unique_ptr<Store>>;
  if (options.path.empty()) return OpenResult::error("queue open failed: no path");
  // Made here so that RocksDB does not log a first start as an error ("Error when
  // reading ... dir"); its own failure, if any, is what DB::Open reports below.
  if (Status s = make_durable_dir(options.path); !s) {
    return OpenResult::error("queue open failed: " + s.message());
  }

  if (unsafe_no_sync()) {
    log::error("UNSAFE: queue commits are not synced",
               {{"switch", "HATO_DEBUG_UNSAFE_NO_SYNC=1"},
                {"effect", "a power cut loses accepted mail; a planted bug for tests only"}});
  }
  Result<std::unique_ptr<QueueDb>> db = open_queue_db(options.path);
  if (!db) return db.status();
  return std::unique_ptr<Store>(std::make_unique<RocksDbStore>(std::move(db).value(), options));
}

}  // namespace hato::queue
