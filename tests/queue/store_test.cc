// store_test.cc - the RocksDB queue: durability across reopen, group commit,
// the due index through update and remove, and damaged records.
#include <rocksdb/db.h>
#include <stdlib.h>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <latch>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "queue/store.h"
#include "tests/temp_dir.h"

namespace hato::queue {
namespace {

using testing::TempDir;

std::unique_ptr<Store> open_store(const std::string& path, size_t max_batch = 1024) {
  StoreOptions options;
  options.path = path;
  options.max_batch = max_batch;
  Result<std::unique_ptr<Store>> store = open_rocksdb_store(options);
  BOOST_TEST_REQUIRE(store.is_ok(), store.status().message());
  return std::move(store).value();
}

// Waiter - collects done callbacks, which arrive on the committer thread.
class Waiter {
 public:
  std::function<void(Status)> callback() {
    return [this](Status s) {
      std::lock_guard lock(mu_);
      ++done_;
      if (!s.is_ok()) {
        failures_.push_back(s.message());
        codes_.push_back(s.code());
      }
      cv_.notify_all();
    };
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return done_ >= n; });
  }
  size_t done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  std::vector<std::string> failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }
  std::vector<Code> failure_codes() {
    std::lock_guard lock(mu_);
    return codes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t done_ = 0;
  std::vector<std::string> failures_;
  std::vector<Code> codes_;
};

Envelope envelope_for(int i, int64_t due_ms) {
  Envelope e;
  e.sender = "sender" + std::to_string(i) + "@example.test";
  e.created_ms = 1764313200000 + i;
  e.next_attempt_ms = due_ms;
  e.client = "client.example.test [192.0.2." + std::to_string(i % 250) + "]";
  e.listener = "mx";
  Recipient& r = e.recipients.emplace_back();
  r.address = "rcpt" + std::to_string(i) + "@example.test";
  r.notify = kNotifyFailure;
  return e;
}

// Some messages are over the blob threshold, and all carry bytes that are not text.
std::string message_for(int i) {
  std::string m = "Subject: " + std::to_string(i) + "\r\n\r\n";
  m += std::string("\0\xff\r\n", 4);
  m.append(i % 3 == 0 ? 10000 + i : 100 + i, static_cast<char>('a' + i % 26));
  return m;
}

void insert_and_wait(Store& store, const QueueId& id, std::string message, Envelope envelope) {
  Waiter waiter;
  store.insert(id, std::move(message), std::move(envelope), waiter.callback());
  BOOST_TEST_REQUIRE(waiter.wait_for(1));
  BOOST_TEST_REQUIRE(waiter.failures().empty());
}

std::vector<std::pair<QueueId, int64_t>> due_list(Store& store, int64_t now_ms,
                                                  size_t limit = 1000) {
  std::vector<std::pair<QueueId, int64_t>> out;
  Status s = store.for_each_due(now_ms, limit, [&](const QueueId& id, int64_t due_ms) {
    out.emplace_back(id, due_ms);
    return true;
  });
  BOOST_TEST_REQUIRE(s.is_ok(), s.message());
  return out;
}

struct Inserted {
  QueueId id;
  int index;
};

// insert_concurrently - `threads` threads released together, each inserting
// `per_thread` messages without waiting for the previous one.
std::vector<Inserted> insert_concurrently(Store& store, Waiter& waiter, int threads,
                                          int per_thread) {
  QueueIdGenerator gen;
  std::latch start(threads);
  std::mutex mu;
  std::vector<Inserted> inserted;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int k = 0; k < per_thread; ++k) {
        int i = t * per_thread + k;
        QueueId id = gen.next();
        {
          std::lock_guard lock(mu);
          inserted.push_back({id, i});
        }
        store.insert(id, message_for(i), envelope_for(i, 1000 + i), waiter.callback());
      }
    });
  }
  for (auto& w : workers) w.join();
  return inserted;
}

BOOST_AUTO_TEST_SUITE(store)

BOOST_AUTO_TEST_CASE(concurrent_inserts_survive_reopen) {
  TempDir dir;
  Waiter waiter;
  std::vector<Inserted> inserted;
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    inserted = insert_concurrently(*store, waiter, 8, 25);
    // No waiting: closing the store must complete every queued insert first.
  }
  BOOST_TEST(waiter.done() == 200u);
  BOOST_TEST(waiter.failures().empty());

  std::unique_ptr<Store> store = open_store(dir.path);
  for (const Inserted& in : inserted) {
    Result<std::string> m = store->message(in.id);
    BOOST_TEST_REQUIRE(m.is_ok(), m.status().message());
    BOOST_TEST((*m == message_for(in.index)), "message " << in.index << " differs");
    Result<Envelope> e = store->envelope(in.id);
    BOOST_TEST_REQUIRE(e.is_ok(), e.status().message());
    BOOST_TEST((*e == envelope_for(in.index, 1000 + in.index)));
  }

  std::vector<QueueId> seen;
  Status s = store->for_each([&](const StoredMessage& m) {
    seen.push_back(m.id);
    return true;
  });
  BOOST_TEST_REQUIRE(s.is_ok(), s.message());
  BOOST_TEST(seen.size() == 200u);
  BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
  BOOST_TEST(due_list(*store, 2000).size() == 200u);

  std::optional<QueueId> newest = store->newest_id();
  BOOST_TEST_REQUIRE(newest.has_value());
  BOOST_TEST((*newest == seen.back()));
}

BOOST_AUTO_TEST_CASE(group_commit_batches) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  Waiter waiter;
  insert_concurrently(*store, waiter, 8, 25);
  BOOST_TEST_REQUIRE(waiter.wait_for(200));
  BOOST_TEST(waiter.failures().empty());
  StoreStats stats = store->stats();
  BOOST_TEST_MESSAGE("200 inserts took " << stats.commit_syncs << " syncs");
  BOOST_TEST(stats.commits == 200u);
  BOOST_TEST(stats.commit_syncs >= 1u);
  BOOST_TEST(stats.commit_syncs < stats.commits);
}

BOOST_AUTO_TEST_CASE(max_batch_of_one_syncs_each_insert) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path, 1);
  Waiter waiter;
  insert_concurrently(*store, waiter, 4, 5);
  BOOST_TEST_REQUIRE(waiter.wait_for(20));
  BOOST_TEST(store->stats().commit_syncs == 20u);
}

BOOST_AUTO_TEST_CASE(update_moves_due_entry) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  QueueId id = QueueId::make(1000, 0, 0);
  Envelope e = envelope_for(1, 500);
  insert_and_wait(*store, id, message_for(1), e);
  BOOST_TEST_REQUIRE(due_list(*store, 10000).size() == 1u);

  e.state = MessageState::kDeferred;
  e.next_attempt_ms = 5000;
  e.recipients[0].attempts.push_back({600, "mx.example.test[192.0.2.1]", "451 later", "", "", ""});
  BOOST_TEST_REQUIRE(store->update(id, e).is_ok());

  BOOST_TEST(due_list(*store, 4999).empty());  // not at the old time any more
  auto due = due_list(*store, 10000);
  BOOST_TEST_REQUIRE(due.size() == 1u);
  BOOST_TEST((due[0].first == id));
  BOOST_TEST(due[0].second == 5000);
  Result<Envelope> back = store->envelope(id);
  BOOST_TEST_REQUIRE(back.is_ok());
  BOOST_TEST((*back == e));

  // Same time again: still exactly one entry.
  BOOST_TEST_REQUIRE(store->update(id, e).is_ok());
  BOOST_TEST(due_list(*store, 10000).size() == 1u);
}

// Removals (a delivered message leaving) are written without a sync of their own: the
// next synced write or a quiet second makes them durable. New mail is always synced.
BOOST_AUTO_TEST_CASE(removals_alone_wait_for_the_next_sync) {
  TempDir dir;
  std::vector<QueueId> ids;
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    for (int i = 0; i < 6; ++i) {
      ids.push_back(QueueId::make(3000 + i, 0, 0));
      insert_and_wait(*store, ids.back(), message_for(i), envelope_for(i, 100));
    }
    const uint64_t after_inserts = store->stats().commit_syncs;
    BOOST_TEST(after_inserts == 6u);
    for (int i = 0; i < 3; ++i) {
      Waiter waiter;
      store->remove_async(ids[i], waiter.callback());
      BOOST_TEST_REQUIRE(waiter.wait_for(1));
      BOOST_TEST(waiter.failures().empty());
    }
    BOOST_TEST(store->stats().commit_syncs == after_inserts);  // three removals, no sync yet
    // The quiet timer syncs them, once.
    for (int i = 0; i < 100 && store->stats().commit_syncs == after_inserts; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    BOOST_TEST(store->stats().commit_syncs == after_inserts + 1);
    // A removal followed by a new message: the message's sync carries both.
    Waiter waiter;
    store->remove_async(ids[3], waiter.callback());
    BOOST_TEST_REQUIRE(waiter.wait_for(1));
    insert_and_wait(*store, QueueId::make(3100, 0, 0), message_for(9), envelope_for(9, 100));
    BOOST_TEST(store->stats().commit_syncs == after_inserts + 2);
  }
  std::unique_ptr<Store> store = open_store(dir.path);
  for (int i = 0; i < 6; ++i) BOOST_TEST(store->envelope(ids[i]).is_ok() == (i >= 4));
  BOOST_TEST(store->envelope(QueueId::make(3100, 0, 0)).is_ok());
}

BOOST_AUTO_TEST_CASE(async_updates_and_removes_share_syncs_and_survive_reopen) {
  TempDir dir;
  const int n = 200;
  std::vector<QueueId> ids;
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    for (int i = 0; i < n; ++i) {
      ids.push_back(QueueId::make(2000 + i, 0, 0));
      insert_and_wait(*store, ids.back(), message_for(i), envelope_for(i, 100));
    }
    uint64_t syncs_before = store->stats().commit_syncs;
    Waiter waiter;
    // Even IDs move to a later attempt, odd ones are delivered and removed;
    // all at once, as the delivery engine does.
    for (int i = 0; i < n; ++i) {
      if (i % 2 == 0) {
        Envelope e = envelope_for(i, 9000 + i);
        e.state = MessageState::kDeferred;
        store->update_async(ids[i], e, waiter.callback());
      } else {
        store->remove_async(ids[i], waiter.callback());
      }
    }
    store->remove_async(QueueId::make(99, 0, 0), waiter.callback());  // unknown: fails alone
    BOOST_TEST_REQUIRE(waiter.wait_for(n + 1));
    BOOST_TEST(waiter.failures().size() == 1u);
    BOOST_TEST(store->stats().commit_syncs - syncs_before < static_cast<uint64_t>(n));
  }
  std::unique_ptr<Store> store = open_store(dir.path);
  BOOST_TEST(due_list(*store, 8999).empty());  // nothing left at the old time
  auto due = due_list(*store, 100000);
  BOOST_TEST(due.size() == static_cast<size_t>(n / 2));
  for (int i = 0; i < n; ++i) {
    BOOST_TEST(store->envelope(ids[i]).is_ok() == (i % 2 == 0));
    BOOST_TEST(store->message(ids[i]).is_ok() == (i % 2 == 0));
  }
}

BOOST_AUTO_TEST_CASE(held_and_finished_messages_have_no_due_entry) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  QueueId held = QueueId::make(1000, 0, 0);
  Envelope e = envelope_for(1, 500);
  e.state = MessageState::kHeld;
  insert_and_wait(*store, held, message_for(1), e);
  BOOST_TEST(due_list(*store, 10000).empty());

  // Released: due again.
  e.state = MessageState::kQueued;
  BOOST_TEST_REQUIRE(store->update(held, e).is_ok());
  BOOST_TEST(due_list(*store, 10000).size() == 1u);
  // Held by update: gone from the index.
  e.state = MessageState::kHeld;
  BOOST_TEST_REQUIRE(store->update(held, e).is_ok());
  BOOST_TEST(due_list(*store, 10000).empty());

  QueueId finished = QueueId::make(1001, 0, 0);
  Envelope f = envelope_for(2, 500);
  insert_and_wait(*store, finished, message_for(2), f);
  BOOST_TEST(due_list(*store, 10000).size() == 1u);
  f.recipients[0].state = RcptState::kDelivered;
  BOOST_TEST_REQUIRE(store->update(finished, f).is_ok());
  BOOST_TEST(due_list(*store, 10000).empty());
  // Still in the store, just not due.
  BOOST_TEST(store->envelope(finished).is_ok());

  Envelope none = envelope_for(3, 500);
  none.recipients.clear();
  insert_and_wait(*store, QueueId::make(1002, 0, 0), message_for(3), none);
  BOOST_TEST(due_list(*store, 10000).empty());
}

BOOST_AUTO_TEST_CASE(remove_removes_all) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  QueueId keep = QueueId::make(1000, 0, 0);
  QueueId gone = QueueId::make(1000, 1, 0);
  insert_and_wait(*store, keep, message_for(0), envelope_for(0, 100));
  insert_and_wait(*store, gone, message_for(3), envelope_for(3, 200));
  BOOST_TEST_REQUIRE(store->remove(gone).is_ok());

  BOOST_TEST((store->message(gone).status().code() == Code::kNotFound));
  BOOST_TEST((store->envelope(gone).status().code() == Code::kNotFound));
  auto due = due_list(*store, 10000);
  BOOST_TEST_REQUIRE(due.size() == 1u);
  BOOST_TEST((due[0].first == keep));
  size_t visited = 0;
  BOOST_TEST_REQUIRE(store
                         ->for_each([&](const StoredMessage& m) {
                           BOOST_TEST((m.id == keep));
                           ++visited;
                           return true;
                         })
                         .is_ok());
  BOOST_TEST(visited == 1u);

  // And it stays gone after a reopen.
  store.reset();
  store = open_store(dir.path);
  BOOST_TEST(!store->message(gone).is_ok());
  BOOST_TEST(store->message(keep).is_ok());
}

BOOST_AUTO_TEST_CASE(missing_messages_are_errors) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  QueueId id = QueueId::make(1000, 0, 0);
  BOOST_TEST((store->envelope(id).status().code() == Code::kNotFound));
  BOOST_TEST((store->message(id).status().code() == Code::kNotFound));
  BOOST_TEST((store->update(id, envelope_for(1, 1)).code() == Code::kNotFound));
  BOOST_TEST((store->remove(id).code() == Code::kNotFound));
  // A failed update must not have created anything.
  BOOST_TEST(due_list(*store, 10000).empty());
  BOOST_TEST(!store->newest_id().has_value());
}

BOOST_AUTO_TEST_CASE(for_each_due_respects_now_and_limit) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  // Inserted out of due order: the index orders by time, not by ID.
  std::map<int64_t, QueueId> by_due;
  int64_t times[] = {300, 100, 500, 200, 400};
  for (int i = 0; i < 5; ++i) {
    QueueId id = QueueId::make(1000, i, 0);
    by_due[times[i]] = id;
    insert_and_wait(*store, id, message_for(i), envelope_for(i, times[i]));
  }

  auto due = due_list(*store, 300);  // "at or before now" includes 300
  BOOST_TEST_REQUIRE(due.size() == 3u);
  BOOST_TEST(due[0].second == 100);
  BOOST_TEST(due[1].second == 200);
  BOOST_TEST(due[2].second == 300);
  BOOST_TEST((due[2].first == by_due[300]));

  BOOST_TEST(due_list(*store, 299).size() == 2u);
  BOOST_TEST(due_list(*store, 99).empty());
  BOOST_TEST(due_list(*store, -1).empty());
  BOOST_TEST(due_list(*store, 10000).size() == 5u);

  auto limited = due_list(*store, 10000, 2);
  BOOST_TEST_REQUIRE(limited.size() == 2u);
  BOOST_TEST(limited[1].second == 200);
  BOOST_TEST(due_list(*store, 10000, 0).empty());

  size_t visits = 0;
  BOOST_TEST_REQUIRE(
      store->for_each_due(10000, 10, [&](const QueueId&, int64_t) { return ++visits < 2; })
          .is_ok());
  BOOST_TEST(visits == 2u);
}

BOOST_AUTO_TEST_CASE(for_each_stops_when_asked) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  for (int i = 0; i < 5; ++i) {
    insert_and_wait(*store, QueueId::make(1000 + i, 0, 0), message_for(i), envelope_for(i, i));
  }
  std::vector<int64_t> seen;
  BOOST_TEST_REQUIRE(store
                         ->for_each([&](const StoredMessage& m) {
                           seen.push_back(m.id.time_ms());
                           return seen.size() < 3;
                         })
                         .is_ok());
  BOOST_TEST((seen == std::vector<int64_t>{1000, 1001, 1002}));
  BOOST_TEST(store->newest_id()->time_ms() == 1004);
}

// Overwrites one envelope with garbage behind the store's back.
void damage_envelope(const std::string& path, const QueueId& id) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  BOOST_TEST_REQUIRE(rocksdb::DB::ListColumnFamilies(options, path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  BOOST_TEST_REQUIRE(rocksdb::DB::Open(options, path, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != "envelopes") continue;
    rocksdb::WriteOptions wo;
    wo.sync = true;
    BOOST_TEST(
        db->Put(wo, handles[i], rocksdb::Slice(id.key().data(), id.key().size()), "\x01garbage")
            .ok());
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) BOOST_TEST(db->DestroyColumnFamilyHandle(h).ok());
  BOOST_TEST(db->Close().ok());
}

BOOST_AUTO_TEST_CASE(damaged_record_is_skipped_and_can_be_removed) {
  TempDir dir;
  QueueId ids[3] = {QueueId::make(1000, 0, 0), QueueId::make(1001, 0, 0),
                    QueueId::make(1002, 0, 0)};
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    for (int i = 0; i < 3; ++i) {
      insert_and_wait(*store, ids[i], message_for(i), envelope_for(i, 100 + i));
    }
  }
  damage_envelope(dir.path, ids[1]);

  std::unique_ptr<Store> store = open_store(dir.path);
  std::vector<QueueId> seen;
  BOOST_TEST_REQUIRE(store
                         ->for_each([&](const StoredMessage& m) {
                           seen.push_back(m.id);
                           return true;
                         })
                         .is_ok());
  BOOST_TEST_REQUIRE(seen.size() == 2u);
  BOOST_TEST((seen[0] == ids[0]));
  BOOST_TEST((seen[1] == ids[2]));
  BOOST_TEST(!store->envelope(ids[1]).is_ok());

  // Its due entry is found without the envelope, so an update replaces it...
  BOOST_TEST_REQUIRE(store->update(ids[1], envelope_for(1, 5000)).is_ok());
  auto due = due_list(*store, 10000);
  BOOST_TEST_REQUIRE(due.size() == 3u);
  BOOST_TEST((due[2].first == ids[1]));
  BOOST_TEST(due[2].second == 5000);

  // ...and a remove of a damaged record leaves no due entry behind.
  // The database is locked while the store has it open.
  store.reset();
  damage_envelope(dir.path, ids[1]);
  store = open_store(dir.path);
  BOOST_TEST_REQUIRE(store->remove(ids[1]).is_ok());
  due = due_list(*store, 10000);
  BOOST_TEST(due.size() == 2u);
  for (const auto& [id, ms] : due) BOOST_TEST(!(id == ids[1]));
}

BOOST_AUTO_TEST_CASE(updates_and_removes_race_inserts) {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.path);
  constexpr int kCount = 150;
  QueueIdGenerator gen;

  // Committed IDs are handed from the done callbacks to a second thread that
  // updates and removes them while further inserts are still being committed.
  // Boost.Test assertions are not thread-safe: the threads only count failures.
  std::atomic<int> failures{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<QueueId, int>> committed;
  size_t taken = 0;
  std::thread mutator([&] {
    for (int n = 0; n < kCount; ++n) {
      std::pair<QueueId, int> next;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return taken < committed.size(); });
        next = committed[taken++];
      }
      auto [id, i] = next;
      if (i % 3 == 0) {
        if (!store->remove(id).is_ok()) ++failures;
      } else {
        Envelope e = envelope_for(i, 100000 + i);
        if (i % 3 == 2) e.state = MessageState::kHeld;
        if (!store->update(id, e).is_ok()) ++failures;
      }
    }
  });

  for (int i = 0; i < kCount; ++i) {
    QueueId id = gen.next();
    store->insert(id, message_for(i), envelope_for(i, i), [&, id, i](Status s) {
      if (!s.is_ok()) ++failures;
      std::lock_guard lock(mu);
      committed.emplace_back(id, i);
      cv.notify_one();
    });
  }
  mutator.join();
  BOOST_TEST(failures.load() == 0);

  // Left: i%3==1 due at 100000+i, i%3==2 held with no entry; nothing at old times.
  BOOST_TEST(due_list(*store, 99999).empty());
  auto due = due_list(*store, 1000000);
  BOOST_TEST(due.size() == static_cast<size_t>(kCount / 3));
  size_t stored = 0;
  BOOST_TEST_REQUIRE(store
                         ->for_each([&](const StoredMessage&) {
                           ++stored;
                           return true;
                         })
                         .is_ok());
  BOOST_TEST(stored == static_cast<size_t>(kCount - kCount / 3));
}

std::vector<std::pair<uint64_t, std::string>> outbox_list(Store& store, uint64_t after = 0,
                                                          size_t limit = 100000) {
  std::vector<std::pair<uint64_t, std::string>> out;
  Status s = store.outbox_read(after, limit, [&](uint64_t seq, std::string_view json) {
    out.emplace_back(seq, std::string(json));
    return true;
  });
  BOOST_TEST_REQUIRE(s.is_ok(), s.message());
  return out;
}

// The webhooks' outbox: events go in with the change they describe, in one batch, numbered in
// order, and survive a reopen; a change that fails writes no event. The same events come from
// memory (queue/outbox_tail.h) before the reopen and from RocksDB after it.
BOOST_AUTO_TEST_CASE(outbox_events_are_written_with_their_change) {
  TempDir dir;
  QueueId a = QueueId::make(3000, 0, 0), b = QueueId::make(3001, 0, 0);
  std::vector<std::pair<uint64_t, std::string>> want = {
      {1, "r-a1"}, {2, "r-a2"}, {3, "r-b"}, {4, "deferred-a"}, {5, "delivered-b"}, {6, "held-a"}};
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    BOOST_TEST(store->outbox_stats().first == 1u);
    BOOST_TEST(store->outbox_stats().next == 1u);
    Waiter waiter;
    std::vector<Store::NewMessage> batch;
    batch.push_back({a,
                     message_for(1),
                     envelope_for(1, 100),
                     waiter.callback(),
                     {"r-a1", "r-a2"},
                     {{"i/app/k1", "202 a"}}});
    batch.push_back({b, message_for(2), envelope_for(2, 100), waiter.callback(), {"r-b"}, {}});
    store->insert_all(std::move(batch));
    BOOST_TEST_REQUIRE(waiter.wait_for(2));
    Envelope e = envelope_for(1, 5000);
    store->update_async(a, e, waiter.callback(), {"deferred-a"});
    store->remove_async(b, waiter.callback(), {"delivered-b"});
    store->remove_async(QueueId::make(99, 0, 0), waiter.callback(), {"never"});
    BOOST_TEST_REQUIRE(waiter.wait_for(5));
    BOOST_TEST(waiter.failures().size() == 1u);
    BOOST_TEST(store->update_with(a, e, {"held-a"}).is_ok());
    BOOST_TEST(!store->remove_with(QueueId::make(98, 0, 0), {"never either"}).is_ok());
    BOOST_TEST((outbox_list(*store) == want));
    BOOST_TEST(outbox_list(*store, 4, 1)[0].second == "delivered-b");
  }
  std::unique_ptr<Store> store = open_store(dir.path);
  BOOST_TEST((outbox_list(*store) == want));
  BOOST_TEST(store->outbox_stats().first == 1u);
  BOOST_TEST(store->outbox_stats().next == 7u);
  BOOST_TEST(outbox_list(*store, 4, 1).size() == 1u);
  BOOST_TEST(outbox_list(*store, 4, 1)[0].second == "delivered-b");
  // State records given with a new message (the HTTP API's idempotency record) are in its write.
  auto record = store->get_state("i/app/k1");
  BOOST_TEST_REQUIRE(record.is_ok());
  BOOST_TEST(record->value_or("") == "202 a");
}

// Trimmed events are gone, also after a reopen, and numbering goes on after the last one.
BOOST_AUTO_TEST_CASE(outbox_trim_removes_the_front) {
  TempDir dir;
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    Waiter waiter;
    for (int i = 0; i < 10; ++i) {
      std::vector<Store::NewMessage> one;
      one.push_back({QueueId::make(4000 + i, 0, 0),
                     message_for(i),
                     envelope_for(i, 100),
                     waiter.callback(),
                     {"e" + std::to_string(i)},
                     {}});
      store->insert_all(std::move(one));
    }
    BOOST_TEST_REQUIRE(waiter.wait_for(10));
    store->outbox_trim(4);
    store->outbox_trim(2);  // behind: nothing more
    // A trim has no callback: the next change through the committer comes after it.
    store->remove_async(QueueId::make(4000, 0, 0), waiter.callback(), {"last"});
    BOOST_TEST_REQUIRE(waiter.wait_for(11));
    BOOST_TEST(store->outbox_stats().first == 5u);
    BOOST_TEST(outbox_list(*store).front().second == "e4");
  }
  std::unique_ptr<Store> store = open_store(dir.path);
  auto events = outbox_list(*store);
  BOOST_TEST_REQUIRE(events.size() == 7u);
  BOOST_TEST(events.front().first == 5u);
  BOOST_TEST(events.back().first == 11u);
  BOOST_TEST(events.back().second == "last");
  BOOST_TEST(store->outbox_stats().first == 5u);
  BOOST_TEST(store->outbox_stats().next == 12u);
}

// Beyond the limit the oldest events go, and the store counts them.
BOOST_AUTO_TEST_CASE(outbox_keeps_at_most_its_limit) {
  TempDir dir;
  StoreOptions options;
  options.path = dir.path;
  options.outbox_limit = 5;
  Result<std::unique_ptr<Store>> opened = open_rocksdb_store(options);
  BOOST_TEST_REQUIRE(opened.is_ok());
  Store& store = **opened;
  Waiter waiter;
  std::vector<Store::NewMessage> batch;
  for (int i = 0; i < 8; ++i) {
    batch.push_back({QueueId::make(5000 + i, 0, 0),
                     message_for(i),
                     envelope_for(i, 100),
                     waiter.callback(),
                     {"e" + std::to_string(i)},
                     {}});
  }
  store.insert_all(std::move(batch));
  BOOST_TEST_REQUIRE(waiter.wait_for(8));
  auto events = outbox_list(store);
  BOOST_TEST_REQUIRE(events.size() == 5u);
  BOOST_TEST(events.front().second == "e3");
  BOOST_TEST(events.back().second == "e7");
  BOOST_TEST(store.outbox_stats().dropped == 3u);
  BOOST_TEST(store.outbox_stats().first == 4u);
  BOOST_TEST(store.update_with(QueueId::make(5000, 0, 0), envelope_for(0, 200), {"e8"}).is_ok());
  BOOST_TEST(outbox_list(store).front().second == "e4");
  BOOST_TEST(store.outbox_stats().dropped == 4u);
}

BOOST_AUTO_TEST_CASE(open_fails_cleanly) {
  TempDir dir;
  std::unique_ptr<Store> first = open_store(dir.path);
  StoreOptions options;
  options.path = dir.path;
  // The same database twice: RocksDB's lock refuses it, and we say so.
  Result<std::unique_ptr<Store>> second = open_rocksdb_store(options);
  BOOST_TEST_REQUIRE(!second.is_ok());
  BOOST_TEST(second.status().message().rfind("queue open failed: ", 0) == 0u);
}

// RocksDB's info log goes to our log, not to a LOG file on the queue's disk: a
// full disk once failed a LOG write and the next line aborted the daemon.
BOOST_AUTO_TEST_CASE(no_rocksdb_log_file_on_the_queue_disk) {
  TempDir dir;
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    insert_and_wait(*store, QueueIdGenerator().next(), message_for(1), envelope_for(1, 1000));
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    std::string name = entry.path().filename().string();
    BOOST_TEST(name.rfind("LOG", 0) != 0u, name);
  }
}

// A new message that would leave less than min_free_bytes free is refused with
// "No space" (the session answers 452 4.3.1) before RocksDB writes anything;
// changes to queued messages still go through.
BOOST_AUTO_TEST_CASE(insert_refused_when_the_disk_is_nearly_full) {
  TempDir dir;
  QueueIdGenerator gen;
  QueueId kept = gen.next();
  {
    std::unique_ptr<Store> store = open_store(dir.path);
    insert_and_wait(*store, kept, message_for(1), envelope_for(1, 1000));
  }
  StoreOptions options;
  options.path = dir.path;
  options.min_free_bytes = uint64_t{1} << 62;  // more than any disk has
  Result<std::unique_ptr<Store>> opened = open_rocksdb_store(options);
  BOOST_TEST_REQUIRE(opened.is_ok(), opened.status().message());
  Store& store = *opened.value();
  Waiter waiter;
  QueueId refused = gen.next();
  store.insert(refused, message_for(2), envelope_for(2, 1000), waiter.callback());
  BOOST_TEST_REQUIRE(waiter.wait_for(1));
  BOOST_TEST_REQUIRE(waiter.failures().size() == 1u);
  BOOST_TEST(waiter.failures()[0].find("No space") != std::string::npos, waiter.failures()[0]);
  BOOST_TEST((waiter.failure_codes()[0] == Code::kNoSpace), "the no-space code, for the 452");
  BOOST_TEST((store.envelope(refused).status().code() == Code::kNotFound));
  BOOST_TEST(store.update(kept, envelope_for(1, 2000)).is_ok());
  BOOST_TEST(store.remove(kept).is_ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::queue
