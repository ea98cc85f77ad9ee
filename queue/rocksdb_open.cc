// rocksdb_open.cc - opening the queue's database: the families' options and the handles.
#include "queue/rocksdb_open.h"

#include <rocksdb/options.h>
#include <rocksdb/utilities/table_properties_collectors.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <utility>

#include "common/files.h"
#include "common/log.h"
#include "queue/rocksdb_support.h"

namespace hato::queue {

namespace {

constexpr const char* kFamilyNames[kFamilyCount] = {"messages", "envelopes", "due", "state",
                                                    "events"};

rocksdb::ColumnFamilyOptions family_options(Family family) {
  rocksdb::ColumnFamilyOptions o;
  // Mail is mostly compressed or short-lived; CPU is better spent elsewhere.
  o.compression = rocksdb::kNoCompression;
  // Every key is deleted once its message leaves, and the due index is walked
  // from the front: compact files that fill up with tombstones early.
  o.table_properties_collector_factories.emplace_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(128, 64));
  if (family == kMessages) {
    // Message bodies stay out of the LSM tree, so compaction of the small
    // envelope-sized keys does not rewrite them; GC reclaims deleted bodies.
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.enable_blob_garbage_collection = true;
  }
  return o;
}

constexpr int64_t kRecoverEveryMs = 1000;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

QueueDb::QueueDb(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : db_(std::move(db)), handles_(std::move(handles)) {}

QueueDb::~QueueDb() {
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();  // only deletes memory
  }
  rocksdb::Status s = db_->Close();
  if (!s.ok()) log::error("queue close failed", {{"reason", s.ToString()}});
}

Result<std::unique_ptr<QueueDb>> open_queue_db(const std::string& path) {
  using OpenResult = Result<std::unique_ptr<QueueDb>>;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // With several families the WAL lives until the quietest one flushes; cap it.
  db_options.max_total_wal_size = 64 << 20;
  db_options.info_log = make_rocksdb_logger();

  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (size_t f = 0; f < kFamilyCount; ++f) {
    families.emplace_back(kFamilyNames[f], family_options(static_cast<Family>(f)));
  }
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  // RocksDB refuses to open a database without naming all its families; open
  // any we do not know (from a newer version) with defaults and leave them be.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
    for (const std::string& name : existing) {
      bool known = std::any_of(families.begin(), families.end(),
                               [&](const auto& d) { return d.name == name; });
      if (!known) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
  }

  rocksdb::DB* raw_db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, families, &handles, &raw_db);
  if (!s.ok()) return OpenResult::error("queue open failed: " + s.ToString());
  return std::make_unique<QueueDb>(std::unique_ptr<rocksdb::DB>(raw_db), std::move(handles));
}

QueueDbHolder::QueueDbHolder(std::string path, std::unique_ptr<QueueDb> db)
    : path_(std::move(path)), db_(std::move(db)) {}

std::shared_ptr<QueueDb> QueueDbHolder::current() const {
  std::lock_guard lock(mu_);
  return db_;
}

void QueueDbHolder::failed(const rocksdb::Status& s, bool reopen) {
  must_reopen_ = must_reopen_ || reopen;  // else recover() learns it from Resume()
  if (broken_) return;
  reason_ = s;
  next_recovery_ms_ = steady_ms() + kRecoverEveryMs;
  broken_ = true;
  log::error("queue disk failed",
             {{"reason", s.ToString()},
              {"queue", path_},
              {"effect",
               "the queue is read-only: new mail is refused with 4xx until the disk "
               "recovers, stored mail is still delivered; recovery is tried every "
               "second"}});
}

QueueDbHolder::Recovery QueueDbHolder::recover() {
  next_recovery_ms_ = steady_ms() + kRecoverEveryMs;
  if (!must_reopen_) {
    rocksdb::Status resumed = db_->db().Resume();
    if (resumed.ok()) return recovered(Recovery::kResumed);
    if (resumed.severity() < rocksdb::Status::Severity::kFatalError) return Recovery::kStill;
    must_reopen_ = true;
  }
  // While the disk still fails, the old database stays open for the readers.
  std::string probe = path_ + "/disk-probe";
  if (db_ && !write_file_atomically(probe, "hato\n", 0600)) return Recovery::kStill;
  std::remove(probe.c_str());
  std::shared_ptr<QueueDb> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(db_);
  }
  // Readers finish their call; RocksDB locks its directory against a second opening.
  while (old && old.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  old.reset();
  Result<std::unique_ptr<QueueDb>> opened = open_queue_db(path_);
  if (!opened) {
    log::warning("queue reopen failed", {{"queue", path_}, {"reason", opened.message()}});
    return Recovery::kStill;
  }
  std::lock_guard lock(mu_);
  db_ = std::move(opened).value();
  return recovered(Recovery::kReopened);
}

QueueDbHolder::Recovery QueueDbHolder::recovered(Recovery how) {
  broken_ = false;
  must_reopen_ = false;
  log::info("queue disk recovered", {{"queue", path_},
                                     {"how", how == Recovery::kResumed ? "resumed" : "reopened"},
                                     {"was", reason_.ToString()},
                                     {"effect", "accepting mail again"}});
  return how;
}

bool unsafe_no_sync() {
  static const bool on = [] {
    const char* v = std::getenv("HATO_DEBUG_UNSAFE_NO_SYNC");
    return v && std::string_view(v) == "1";
  }();
  return on;
}

rocksdb::WriteOptions synced() {
  rocksdb::WriteOptions o;
  o.sync = !unsafe_no_sync();
  return o;
}

}  // namespace hato::queue
