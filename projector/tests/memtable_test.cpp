// The store's own memtable (memtable.hpp), checked through RocksDB itself against a std::map:
// every read RocksDB makes of a memtable (point reads, both directions of iteration, seeks,
// snapshots) while one writer inserts, in key order or not.
#include "apexloop/projector/memtable.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>

namespace apexloop::projector {
namespace {

class MemtableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("apexloop-memtable-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    rocksdb::Options o;
    o.create_if_missing = true;
    // The fewest buckets there are: keys share them, so point reads walk their chains. Keys
    // under pv/ (one of key_universe()'s families) stay out of the index, as in the store.
    o.memtable_factory = ordered_memtable(0, "pv/");
    o.allow_concurrent_memtable_write = false;
    o.write_buffer_size = 64u << 20;  // everything stays in the memtable unless a test flushes
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.string(), &raw).ok());
    db_.reset(raw);
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Every key the model and the store hold, read every way, must agree.
  void expect_same(const std::map<std::string, std::string>& model, std::mt19937& rng,
                   const std::vector<std::string>& universe) {
    for (const auto& k : universe) {
      std::string v;
      const auto s = db_->Get({}, k, &v);
      auto it = model.find(k);
      if (it == model.end()) {
        EXPECT_TRUE(s.IsNotFound()) << k;
      } else {
        ASSERT_TRUE(s.ok()) << k << ": " << s.ToString();
        EXPECT_EQ(v, it->second) << k;
      }
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
    auto m = model.begin();
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++m) {
      ASSERT_NE(m, model.end());
      EXPECT_EQ(it->key().ToString(), m->first);
      EXPECT_EQ(it->value().ToString(), m->second);
    }
    EXPECT_EQ(m, model.end());
    auto r = model.rbegin();
    for (it->SeekToLast(); it->Valid(); it->Prev(), ++r) {
      ASSERT_NE(r, model.rend());
      EXPECT_EQ(it->key().ToString(), r->first);
    }
    EXPECT_EQ(r, model.rend());
    for (int i = 0; i < 200; ++i) {
      const std::string target = universe[rng() % universe.size()] + (rng() % 3 == 0 ? "!" : "");
      it->Seek(target);
      auto lb = model.lower_bound(target);
      ASSERT_EQ(it->Valid(), lb != model.end()) << target;
      if (lb != model.end()) {
        EXPECT_EQ(it->key().ToString(), lb->first);
      }
      it->SeekForPrev(target);
      auto ub = model.upper_bound(target);
      ASSERT_EQ(it->Valid(), ub != model.begin()) << target;
      if (ub != model.begin()) {
        EXPECT_EQ(it->key().ToString(), std::prev(ub)->first);
      }
    }
    ASSERT_TRUE(it->status().ok());
  }

  std::filesystem::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

// Keys that share long prefixes, are prefixes of one another, and hold bytes above 0x7f.
std::vector<std::string> key_universe() {
  std::vector<std::string> out;
  for (int a = 0; a < 12; ++a) {
    const std::string family = a % 3 == 0 ? "hist/" : a % 3 == 1 ? "pv/ws/set/" : "r";
    for (int b = 0; b < 40; ++b) {
      std::string k = family + std::to_string(a) + "/" + std::to_string(b * 7919 % 1000);
      if (b % 5 == 0) k.push_back(static_cast<char>(0xf0));
      out.push_back(k);
      if (b % 9 == 0) out.push_back(k.substr(0, k.size() - 1));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

TEST_F(MemtableTest, ReadsAgreeWithAMapWhateverTheOrderOfWrites) {
  const auto universe = key_universe();
  std::map<std::string, std::string> model;
  std::mt19937 rng(7);
  for (int round = 0; round < 60; ++round) {
    // Batches in key order (as the store writes them) and in no order; overwrites and deletes.
    std::vector<std::pair<std::string, std::optional<std::string>>> ops;
    for (int i = 0; i < 150; ++i) {
      const auto& k = universe[rng() % universe.size()];
      ops.emplace_back(k, rng() % 4 == 0 ? std::nullopt : std::optional(k + "=" + std::to_string(round * 1000 + i)));
    }
    if (round % 2 == 0) std::stable_sort(ops.begin(), ops.end(), [](auto& x, auto& y) { return x.first < y.first; });
    rocksdb::WriteBatch batch;
    for (const auto& [k, v] : ops) {
      if (v) {
        ASSERT_TRUE(batch.Put(k, *v).ok());
        model[k] = *v;
      } else {
        ASSERT_TRUE(batch.Delete(k).ok());
        model.erase(k);
      }
    }
    ASSERT_TRUE(db_->Write({}, &batch).ok());
    if (round == 30) {
      ASSERT_TRUE(db_->Flush({}).ok());  // half the history in a table file below
    }
    if (round % 10 == 9) {
      expect_same(model, rng, universe);
    }
  }
}

TEST_F(MemtableTest, ASnapshotSeesTheVersionsOfItsMoment) {
  ASSERT_TRUE(db_->Put({}, "k", "one").ok());
  ASSERT_TRUE(db_->Put({}, "k2", "x").ok());
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  ASSERT_TRUE(db_->Put({}, "k", "two").ok());
  ASSERT_TRUE(db_->Delete({}, "k2").ok());
  ASSERT_TRUE(db_->Put({}, "k1", "new").ok());
  rocksdb::ReadOptions then;
  then.snapshot = snap;
  std::string v;
  ASSERT_TRUE(db_->Get(then, "k", &v).ok());
  EXPECT_EQ(v, "one");
  ASSERT_TRUE(db_->Get(then, "k2", &v).ok());
  EXPECT_TRUE(db_->Get(then, "k1", &v).IsNotFound());
  ASSERT_TRUE(db_->Get({}, "k", &v).ok());
  EXPECT_EQ(v, "two");
  EXPECT_TRUE(db_->Get({}, "k2", &v).IsNotFound());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(then));
  std::string seen;
  for (it->SeekToFirst(); it->Valid(); it->Next()) seen += it->key().ToString() + "=" + it->value().ToString() + ";";
  EXPECT_EQ(seen, "k=one;k2=x;");
  it.reset();
  db_->ReleaseSnapshot(snap);
}

// A point read starts at the newest version of its key and steps past those newer than its
// snapshot, over versions and deletions alike.
// (A key in the index and one left out of it, "pv/...", read the same.)
TEST_F(MemtableTest, APointReadFindsItsVersionAmongMany) {
  for (const std::string key : {"key", "pv/key"}) {
    std::vector<const rocksdb::Snapshot*> snaps;
    for (int v = 0; v < 40; ++v) {
      const auto s = v % 7 == 3 ? db_->Delete({}, key) : db_->Put({}, key, "v" + std::to_string(v));
      ASSERT_TRUE(s.ok());
      ASSERT_TRUE(db_->Put({}, key + "/" + std::to_string(v), "other").ok());  // a longer key after it
      snaps.push_back(db_->GetSnapshot());
    }
    for (int v = 0; v < 40; ++v) {
      rocksdb::ReadOptions at;
      at.snapshot = snaps[v];
      std::string got;
      const auto s = db_->Get(at, key, &got);
      if (v % 7 == 3) {
        EXPECT_TRUE(s.IsNotFound()) << key << " " << v;
      } else {
        ASSERT_TRUE(s.ok()) << key << " " << v << ": " << s.ToString();
        EXPECT_EQ(got, "v" + std::to_string(v));
      }
      EXPECT_TRUE(db_->Get(at, key + "/" + std::to_string(v + 1), &got).IsNotFound()) << v;
      EXPECT_TRUE(db_->Get(at, key.substr(0, key.size() - 1), &got).IsNotFound());  // a prefix is another key
    }
    for (const auto* s : snaps) db_->ReleaseSnapshot(s);
  }
}

// Keys that share a bucket and a tag are still told apart by their bytes.
TEST_F(MemtableTest, KeysThatShareABucketAndATagAreToldApart) {
  // Two keys whose hashes agree in their low 20 bits (the bucket, for up to 2^20 buckets) and top
  // 16 (the tag): a birthday search over 36 bits, a few hundred thousand keys.
  auto identity = [](std::uint64_t h) { return (h & ((std::uint64_t{1} << 20) - 1)) | ((h >> 48) << 20); };
  auto key = [](int i) { return "rc/ws/db/" + std::to_string(i); };
  std::unordered_map<std::uint64_t, int> seen;
  seen.reserve(1 << 20);
  std::string a, b;
  for (int i = 0; a.empty(); ++i) {
    ASSERT_LT(i, 4'000'000);
    auto [it, fresh] = seen.emplace(identity(memtable_hash(key(i))), i);
    if (!fresh) {
      a = key(it->second);
      b = key(i);
    }
  }
  ASSERT_NE(a, b);
  std::string got;
  ASSERT_TRUE(db_->Put({}, a, "A").ok());
  EXPECT_TRUE(db_->Get({}, b, &got).IsNotFound()) << a << " and " << b;
  ASSERT_TRUE(db_->Put({}, b, "B").ok());
  ASSERT_TRUE(db_->Get({}, a, &got).ok());
  EXPECT_EQ(got, "A");
  ASSERT_TRUE(db_->Get({}, b, &got).ok());
  EXPECT_EQ(got, "B");
}

// Insert hints only fetch ahead: hints that match the keys, then stop matching, or never do,
// leave the same memtable behind.
TEST_F(MemtableTest, InsertHintsRightOrWrongChangeNothingThatIsRead) {
  std::map<std::string, std::string> model;
  const auto universe = key_universe();
  std::mt19937 rng(11);
  for (int round = 0; round < 12; ++round) {
    std::map<std::string, std::string> ops;
    for (int i = 0; i < 100; ++i) ops[universe[rng() % universe.size()]] = "r" + std::to_string(round);
    std::vector<std::uint64_t> hints;
    for (const auto& [k, v] : ops) hints.push_back(memtable_hash(k));
    if (round % 3 == 1) hints[hints.size() / 2] ^= 1;                 // right, then wrong
    if (round % 3 == 2) std::reverse(hints.begin(), hints.end());    // wrong from the first
    rocksdb::WriteBatch batch;
    for (const auto& [k, v] : ops) {
      ASSERT_TRUE(batch.Put(k, v).ok());
      model[k] = v;
    }
    memtable_insert_hints(hints);
    ASSERT_TRUE(db_->Write({}, &batch).ok());
    memtable_insert_hints({});
  }
  expect_same(model, rng, universe);
}

// Readers never lock: while one thread writes, another iterates and reads, and must always see
// keys in order and every key the writer has finished writing.
TEST_F(MemtableTest, ReadersSeeAConsistentListWhileOneThreadWrites) {
  constexpr int kBatches = 400, kPerBatch = 100;
  std::atomic<int> written{0};
  std::atomic<bool> failed{false};
  auto key_of = [](int n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "key/%08d", (n * 7) % (kBatches * kPerBatch));  // spread over the range
    return std::string(buf);
  };
  std::thread writer([&] {
    for (int b = 0; b < kBatches; ++b) {
      rocksdb::WriteBatch batch;
      for (int i = 0; i < kPerBatch; ++i) (void)batch.Put(key_of(b * kPerBatch + i), "v");
      if (!db_->Write({}, &batch).ok()) failed = true;
      written.store((b + 1) * kPerBatch, std::memory_order_release);
    }
  });
  int scans = 0;
  while (written.load(std::memory_order_acquire) < kBatches * kPerBatch) {
    const int done = written.load(std::memory_order_acquire);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
    std::string last;
    int n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++n) {
      const auto k = it->key().ToString();
      if (!last.empty() && !(last < k)) failed = true;
      last = k;
    }
    if (n < done) failed = true;
    if (done > 0) {
      std::string v;
      if (!db_->Get({}, key_of(done - 1), &v).ok()) failed = true;
    }
    ++scans;
  }
  writer.join();
  EXPECT_FALSE(failed);
  EXPECT_GT(scans, 0);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  int n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  EXPECT_EQ(n, kBatches * kPerBatch);
}

}  // namespace
}  // namespace apexloop::projector
