// rocksdb_support.h - what the RocksDB store's code shares and RocksDB itself asks of us:
// big-endian keys, errors as our Status, printable keys, and the logger that keeps RocksDB's
// lines in our log. Internal to queue/ (the interface is store.h).
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hato::queue {

inline std::string_view view(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}

// 8 bytes, most significant first: keys that sort as the numbers do.
std::string big_endian64(uint64_t v);
uint64_t read_big_endian64(std::string_view in);

// prefix_successor - the least key above every key that starts with `prefix`; empty when
// there is none (an empty prefix, or one of 0xff bytes only).
std::string prefix_successor(std::string_view prefix);

// Printable form of a raw key for log lines about records that do not parse.
std::string hex(std::string_view bytes);

// RocksDB's kind of failure as ours: callers decide on the code (a full disk is 452).
Code code_of(const rocksdb::Status& s);
Status write_error(const rocksdb::Status& s);
Status read_error(const rocksdb::Status& s);

// RocksDB's own LOG file would sit on the queue's disk: once a full disk fails
// one of its writes, Debian's librocksdb (built with assertions) aborts on the
// next log line, typically "canceling all background work" at close. Its lines
// go to our log instead: warnings and errors as such, the rest at debug level.
std::shared_ptr<rocksdb::Logger> make_rocksdb_logger();

// make_durable_dir - create the directory `path` (if missing) and sync its parent. RocksDB
// syncs the files and the directory it writes in, never that directory's entry in its
// parent: after a power cut an unsynced queue directory is gone with all its mail.
Status make_durable_dir(const std::string& path);

}  // namespace hato::queue
