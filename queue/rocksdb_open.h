// rocksdb_open.h - the queue's RocksDB database opened with its column families, as one
// object the store can close and open again (after a failed sync, see rocksdb_store.cc).
// Internal to queue/ (the interface is store.h).
#pragma once

#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace hato::queue {

// Our families, in the order of their handles.
enum Family : size_t { kMessages, kEnvelopes, kDue, kState, kEvents, kFamilyCount };

// An open database: the handles (ours by Family, then default and any others) are destroyed
// before the database is closed.
class QueueDb {
 public:
  QueueDb(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles);
  QueueDb(const QueueDb&) = delete;
  QueueDb& operator=(const QueueDb&) = delete;
  ~QueueDb();

  rocksdb::DB& db() const { return *db_; }
  rocksdb::ColumnFamilyHandle* cf(Family f) const { return handles_[f]; }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// open_queue_db - opens (or creates) the database at `path` with our families.
Result<std::unique_ptr<QueueDb>> open_queue_db(const std::string& path);

// The store's database and its read-only state after a disk failure. A failed write or
// sync makes the queue read-only (new mail gets a 4xx, stored mail is still read and
// delivered) until recover() succeeds. A failed sync is fatal to RocksDB, rightly: the kernel
// may have dropped the WAL's pages that never reached the disk, so a later sync that works
// proves nothing about them; only closing the database and opening it again (which replays
// what the disk holds into new files) clears it. A full disk is cleared by Resume().
class QueueDbHolder {
 public:
  QueueDbHolder(std::string path, std::unique_ptr<QueueDb> db);

  // For readers on any thread: the database for this call, or null while it is opened again.
  std::shared_ptr<QueueDb> current() const;
  // For the store's writers, which hold its write lock (so that no recover() runs meanwhile).
  // Null only between a close and a failed opening, which only happens while broken().
  QueueDb* locked() const { return db_.get(); }

  bool broken() const { return broken_; }
  // What made it read-only (write lock held).
  const rocksdb::Status& reason() const { return reason_; }
  std::chrono::steady_clock::time_point next_recovery() const {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(next_recovery_ms_));
  }

  // failed - a write or sync failed (write lock held); `reopen`: only a new opening will do.
  void failed(const rocksdb::Status& s, bool reopen);
  // recover - one attempt to leave the read-only state (write lock held), at most every
  // second. Only after kReopened are the database's files and WAL new.
  enum class Recovery { kStill, kResumed, kReopened };
  Recovery recover();

 private:
  Recovery recovered(Recovery how);

  const std::string path_;
  mutable std::mutex mu_;  // db_ against its replacement
  std::shared_ptr<QueueDb> db_;
  std::atomic<bool> broken_ = false;
  bool must_reopen_ = false;
  rocksdb::Status reason_;
  std::atomic<int64_t> next_recovery_ms_{0};  // steady clock
};

// HATO_DEBUG_UNSAFE_NO_SYNC=1 turns the commit's sync off: a planted bug for the power-cut
// rounds only (bench/powercut_rounds.sh --planted-bug shows they then find mail lost). Read
// once; never for real mail.
bool unsafe_no_sync();
// The options of a write that must be durable before it is answered (WAL synced).
rocksdb::WriteOptions synced();

}  // namespace hato::queue
