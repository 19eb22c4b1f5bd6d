#include "apexloop/projector/own_tables.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "apexloop/projector/written_keys.hpp"

namespace apexloop::projector {
namespace {

std::string tmpdir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("apexloop-own-tables-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// A RocksDB the windows go into, opened as plainly as RocksDB allows.
struct Db {
  explicit Db(const std::string& name) : dir(tmpdir(name)) {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    const auto s = rocksdb::DB::Open(o, dir, &raw);
    if (!s.ok()) throw std::runtime_error(s.ToString());
    db.reset(raw);
  }
  ~Db() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
  std::optional<std::string> get(std::string_view key) const {
    std::string v;
    const auto s = db->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) throw std::runtime_error(s.ToString());
    return v;
  }
  std::map<std::string, std::string> under(std::string_view prefix) const {
    std::map<std::string, std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size())); it->Next()) {
      out.emplace(it->key().ToString(), it->value().ToString());
    }
    return out;
  }
  std::string dir;
  std::unique_ptr<rocksdb::DB> db;
};

// What the store reads through the tables: their word, else RocksDB's.
std::optional<std::string> read(const OwnTables& own, const Db& db, const std::string& key) {
  std::optional<std::string> out;
  if (own.answers(key, out)) return out;
  return db.get(key);
}

// A scan as the store makes one: the tables' run over RocksDB's keys, less what they dropped.
std::map<std::string, std::string> scan(const OwnTables& own, const Db& db, const std::string& prefix) {
  std::vector<std::string_view> dropped;
  own.dropped(dropped);
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : db.under(prefix)) {
    if (!under_any(dropped, k)) out.emplace(k, v);
  }
  for (const auto& [k, v] : own.run(prefix)) {
    if (v) {
      out[std::string(k)] = std::string(*v);
    } else {
      out.erase(std::string(k));
    }
  }
  return out;
}

std::map<std::string, std::string> under(const std::map<std::string, std::string>& model, const std::string& prefix) {
  std::map<std::string, std::string> out;
  for (auto it = model.lower_bound(prefix); it != model.end() && it->first.starts_with(prefix); ++it) out.insert(*it);
  return out;
}

constexpr int kPrefixes = 4, kKeysEach = 6;
std::string prefix(int p) { return "k/" + std::to_string(p) + "/"; }
std::string key(int p, int k) { return prefix(p) + std::to_string(k); }

// Random batches of writes, deletions and dropped prefixes (some written under again, in the
// same batch or later), taken by windows of `window_bytes`. After every batch each key reads as
// a map kept beside says, through the tables and RocksDB, and so does a scan of each prefix;
// in the end RocksDB alone holds exactly the map.
void check_against_a_map(std::size_t window_bytes, bool filtered, unsigned seed) {
  SCOPED_TRACE("windows of " + std::to_string(window_bytes) + " bytes, seed " + std::to_string(seed));
  Db db("model-" + std::to_string(window_bytes) + "-" + std::to_string(seed));
  WrittenKeys written;
  OwnTables own(*db.db, db.dir, window_bytes);
  std::map<std::string, std::string> model;
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int b = 0; b < 60; ++b) {
    auto batch = std::make_unique<Pending>();
    for (int op = 0, ops = 1 + pick(8); op < ops; ++op) {
      const int p = pick(kPrefixes), k = pick(kKeysEach), what = pick(10);
      if (what < 6) {
        const std::string v = "v" + std::to_string(b) + "." + std::to_string(op);
        put(*batch, key(p, k), v);
        model[key(p, k)] = v;
      } else if (what < 9) {
        slot(*batch, key(p, k)).reset();
        model.erase(key(p, k));
      } else {
        drop_prefix(*batch, prefix(p));
        std::erase_if(model, [&](const auto& e) { return e.first.starts_with(prefix(p)); });
      }
    }
    ASSERT_TRUE(own.add(std::move(batch), filtered ? &written : nullptr).has_value());
    for (int p = 0; p < kPrefixes; ++p) {
      for (int k = 0; k < kKeysEach; ++k) {
        const auto it = model.find(key(p, k));
        ASSERT_EQ(read(own, db, key(p, k)), it == model.end() ? std::nullopt : std::optional(it->second))
            << key(p, k) << " after batch " << b;
        if (filtered && it != model.end()) {
          ASSERT_TRUE(written.may_contain(key(p, k)));
        }
      }
      ASSERT_EQ(scan(own, db, prefix(p)), under(model, prefix(p))) << prefix(p) << " after batch " << b;
    }
  }
  ASSERT_TRUE(own.finish().has_value());
  EXPECT_EQ(db.under(""), model) << "RocksDB alone";
  std::optional<std::string> out;
  EXPECT_FALSE(own.answers(key(0, 0), out)) << "nothing is left in the tables";
  EXPECT_GT(own.write_secs(), 0.0);
}

TEST(OwnTables, ReadAndScanAsAMapOfTheSameWritesWouldInEveryWindowSize) {
  // One byte: a window and a file per batch, and the adding thread waits for the writer.
  // 600 bytes: a few batches a window, so that drops and later writes meet in one file.
  // A megabyte: one window, written at the end.
  for (const std::size_t window : {std::size_t{1}, std::size_t{600}, std::size_t{1} << 20}) {
    for (unsigned seed = 1; seed <= 4; ++seed) check_against_a_map(window, seed % 2 == 0, seed);
  }
}

TEST(OwnTables, AFileOnlyTakesWhatComesAfterItsDrop) {
  // The older values are in RocksDB; the newer window drops their prefix and writes one key
  // under it again: the file's range deletion must spare that key (RocksDB orders a file's
  // writes and range deletions as one) and still cover the others.
  Db db("drop-then-write");
  OwnTables own(*db.db, db.dir, 1);
  auto first = std::make_unique<Pending>();
  put(*first, "k/1/a", "old");
  put(*first, "k/1/b", "old");
  put(*first, "k/1/c", "old");
  ASSERT_TRUE(own.add(std::move(first), nullptr).has_value());
  ASSERT_TRUE(own.finish().has_value());
  auto second = std::make_unique<Pending>();
  drop_prefix(*second, "k/1/");
  put(*second, "k/1/b", "new");
  ASSERT_TRUE(own.add(std::move(second), nullptr).has_value());
  ASSERT_TRUE(own.finish().has_value());
  EXPECT_EQ(db.under(""), (std::map<std::string, std::string>{{"k/1/b", "new"}}));
}

// A window after one whose batches read much back from RocksDB is twice as big (up to four times
// the first), so that such a log leaves fewer files to look through; windows that read little
// back neither grow nor shrink.
TEST(OwnTables, WindowsGrowWhileTheBatchesReadBackFromRocksDb) {
  Db db("growing");
  constexpr std::size_t kFirst = 200;  // bytes: a window of a batch or two of one key each
  OwnTables own(*db.db, db.dir, kFirst);
  int n = 0;
  // Fills a window with batches writing a key each and reading back `reads` keys apiece that
  // RocksDB must answer.
  auto window = [&](int reads) {
    for (const std::size_t full = own.full_windows(); own.full_windows() == full;) {
      std::optional<std::string> out;
      for (int r = 0; r < reads; ++r) ASSERT_FALSE(own.answers("k/none/" + std::to_string(r), out));
      auto batch = std::make_unique<Pending>();
      put(*batch, "k/" + std::to_string(n++), std::string(10, 'v'));
      ASSERT_TRUE(own.add(std::move(batch), nullptr).has_value());
    }
  };
  EXPECT_EQ(own.window_bytes(), kFirst);
  window(0);
  EXPECT_EQ(own.window_bytes(), kFirst) << "no reads back: the first size";
  window(1);  // a read back for each key written
  EXPECT_EQ(own.window_bytes(), 2 * kFirst);
  window(0);
  EXPECT_EQ(own.window_bytes(), 2 * kFirst) << "no reads back: the size it has";
  const int before = n;
  window(1);
  EXPECT_EQ(own.window_bytes(), 4 * kFirst);
  EXPECT_GT(n - before, 1) << "the bigger window took more batches";
  window(1);
  EXPECT_EQ(own.window_bytes(), 4 * kFirst) << "no bigger than four times the first";
  ASSERT_TRUE(own.finish().has_value());
  EXPECT_EQ(db.under("k/").size(), static_cast<std::size_t>(n));
}

TEST(OwnTables, AWriterThatFailsFailsTheNextAdd) {
  Db db("fails");
  OwnTables own(*db.db, db.dir + "/no-such-directory", 1);
  auto batch = std::make_unique<Pending>();
  put(*batch, "k/1/a", "v");
  auto added = own.add(std::move(batch), nullptr);
  if (added) added = own.finish();
  ASSERT_FALSE(added.has_value());
  EXPECT_NE(added.error().find("rocksdb table file"), std::string::npos) << added.error();
  EXPECT_FALSE(own.finish().has_value()) << "and every later one";
}

}  // namespace
}  // namespace apexloop::projector
