// raw_state.h - the store's state family opened with RocksDB directly, behind the store's
// back (the store must be closed): values put as a release before (or a later one) wrote
// them, and read back as stored, version byte and all.
#pragma once

#include <rocksdb/db.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>
#include <vector>

namespace hato::testing {

class RawState {
 public:
  explicit RawState(const std::string& path) {
    rocksdb::DBOptions options;
    std::vector<std::string> names;
    BOOST_TEST_REQUIRE(rocksdb::DB::ListColumnFamilies(options, path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names)
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    BOOST_TEST_REQUIRE(rocksdb::DB::Open(options, path, families, &handles_, &raw).ok());
    db_.reset(raw);
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "state") state_ = handles_[i];
    }
    BOOST_TEST_REQUIRE(state_ != nullptr);
  }
  ~RawState() {
    for (rocksdb::ColumnFamilyHandle* h : handles_)
      BOOST_TEST(db_->DestroyColumnFamilyHandle(h).ok());
    BOOST_TEST(db_->Close().ok());
  }
  void put(const std::string& key, const std::string& value) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    BOOST_TEST_REQUIRE(db_->Put(wo, state_, key, value).ok());
  }
  bool has(const std::string& key) {
    std::string value;
    return db_->Get(rocksdb::ReadOptions(), state_, key, &value).ok();
  }
  std::string get(const std::string& key) {
    std::string value;
    BOOST_TEST_REQUIRE(db_->Get(rocksdb::ReadOptions(), state_, key, &value).ok());
    return value;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* state_ = nullptr;
};

}  // namespace hato::testing
