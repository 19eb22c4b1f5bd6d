// A bulk rebuild's own table files (StoreOptions::own_tables).
//
// A cold replay has no readers and no write-ahead log: nothing needs its writes in a memtable.
// RocksDB's way (each batch into the memtable's skip list, each full memtable walked and written
// out as a table file) cost about two thirds of a replay's CPU. Instead the batches' writes are
// kept as they were projected (each batch's in key order) in a window; a full window is merged
// and written as one table file on a thread of its own (rocksdb::SstFileWriter), then handed to
// RocksDB whole (IngestExternalFile: a file newer than every write before it). Until RocksDB has
// a window's file, reads find its writes through a hash index of its keys.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/projector/pending_writes.hpp"

namespace rocksdb {
class DB;
}

namespace apexloop::projector {

class WrittenKeys;
class Window;       // consecutive batches' writes (own_tables.cpp)
class TableWriter;  // the thread that writes full windows as table files (own_tables.cpp)

// The writes RocksDB does not have yet: the open window, and the full ones being written. Used
// by one thread (the applying one) and, while it waits for them within a batch, by the forks of
// that batch, which only read.
class OwnTables {
 public:
  // Files go to `dir`, the store's directory, before RocksDB takes them in. A window is full at
  // `window_bytes` (the writes' bytes and a fixed overhead per entry), or at up to four times
  // that once batches read much back from RocksDB (see window_bytes()).
  OwnTables(rocksdb::DB& db, const std::string& dir, std::size_t window_bytes);
  ~OwnTables();
  OwnTables(const OwnTables&) = delete;
  OwnTables& operator=(const OwnTables&) = delete;

  // What these writes say of `key`: true and `out` set (a value, or nullopt for a deletion or a
  // dropped prefix over it), or false when RocksDB must answer.
  bool answers(std::string_view key, std::optional<std::string>& out) const;
  // Their newest entries under `prefix`, in key order (deletions included: they hide what is
  // stored).
  [[nodiscard]] PendingRun run(std::string_view prefix) const;
  // The prefixes they dropped: stored keys under them are gone.
  void dropped(std::vector<std::string_view>& out) const;

  // Takes a batch's writes (into the filter of written keys too, when there is one). A full
  // window goes to the writer; with three already waiting for it, this waits for the oldest.
  // An error is the writer's: the store is done.
  [[nodiscard]] std::expected<void, std::string> add(std::unique_ptr<const Pending> batch, WrittenKeys* written_keys);
  // Waits until RocksDB has every write.
  [[nodiscard]] std::expected<void, std::string> finish();
  // Seconds the writer has spent so far.
  [[nodiscard]] double write_secs() const;
  // Where the open window is full. A read these tables do not answer goes to RocksDB, which
  // looks through its files one by one (the store does not compact while it rebuilds): for a
  // log that reads back much of what it wrote (updates of earlier records), fewer and bigger
  // files make those reads cheaper. So a window after one whose batches read back at least one
  // key from RocksDB for every four they wrote is twice as big, up to four times the first, and
  // windows stay that big. (The bigger the windows, the more reads they answer themselves: a
  // rule that also shrank them swung between sizes.) A log of creations reads next to nothing
  // back and keeps the small windows: less to index and to merge at once, and a small last
  // file.
  [[nodiscard]] std::size_t window_bytes() const { return window_bytes_; }
  // Windows full so far (each a table file, written or to be).
  [[nodiscard]] std::size_t full_windows() const { return handed_ + full_.size(); }

 private:
  static constexpr std::size_t kFullWindows = 3;  // at most, besides the open one
  std::expected<void, std::string> settle(std::size_t waiting);

  std::size_t window_bytes_;
  const std::size_t max_window_bytes_;
  mutable std::atomic<std::size_t> read_through_{0};  // reads not answered here, in the open window's time
  std::shared_ptr<Window> open_;
  std::deque<std::shared_ptr<const Window>> full_;  // oldest first; RocksDB may have the first ones
  std::size_t handed_ = 0;                          // windows RocksDB has and full_ no longer holds
  std::vector<std::uint64_t> hashes_;               // scratch
  std::unique_ptr<TableWriter> writer_;
};

}  // namespace apexloop::projector
