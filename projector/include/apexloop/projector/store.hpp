#pragma once
// The RocksDB read-model store. The projector is its only writer: each consumed batch goes in
// one WriteBatch together with the offsets it advances, so a crash at any point leaves either
// the whole batch or none of it, and a restart resumes exactly after the last batch written.
// (Only rows of a set's next generation may reach it ahead of their batch: nobody reads them
// until the batch that names the generation lands; see keys.hpp and KvView::put_ahead.)

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "apexloop/events/codec.hpp"
#include "apexloop/events/kafka.hpp"
#include "apexloop/projector/projection.hpp"

namespace rocksdb {
class DB;
class Iterator;
}

namespace apexloop::projector {

struct BatchStats {
  std::size_t applied = 0;   // events that changed the read models
  std::size_t rejected = 0;  // events that could not be decoded or contradicted the models
  std::size_t skipped = 0;   // already applied (at or before the stored offset)
  std::int64_t last_event_at_ms = 0;
  double projecting_secs = 0;  // deciding what to write
  double writing_secs = 0;     // RocksDB taking the batch
};

struct StoreOptions {
  // With the write-ahead log off (a cold replay into its own directory), a batch is durable
  // only once its memtable is flushed: a crash loses the newest batches, offsets included, and
  // the store resumes from an older, still consistent point. flush() makes everything durable.
  // The live projector keeps it on: its readers (RocksDB secondaries) follow that log.
  bool write_ahead_log = true;
  // RocksDB memtable size; a bulk rebuild takes bigger ones (fewer, larger flushes).
  std::size_t write_buffer_bytes = 32u << 20;
  // Memtables at most: the one written and those waiting for their flush (writes wait when all
  // are full). What the store has not flushed, each reader (a RocksDB secondary: the query
  // service) holds in memory too, so this bounds theirs; a bulk rebuild has no readers.
  int write_buffers = 2;
  // Off while a bulk rebuild writes (its few big flushes are left uncompacted, and no write
  // waits on compaction); whoever opens the store next with the default compacts it.
  bool compact = true;
  // A store opened empty keeps a filter of every key it writes (WrittenKeys): a read of any
  // other key ends there instead of asking RocksDB. A bulk rebuild mostly reads keys it has
  // not written yet. It takes ~2 bytes a key written, for as long as the store is open.
  bool filter_written_keys = false;
  // Without a write-ahead log only (a bulk rebuild): the batches' writes skip the memtables.
  // They are kept in memory as projected, and every `own_table_bytes` of them (counted with
  // ~128 bytes an entry for the structures that hold it) are merged and written as a table
  // file of the store's own on another thread, which RocksDB then takes whole (own_tables.hpp).
  // Until it has, reads find them in memory. (Rows written ahead still go through a memtable.)
  // A crash loses what RocksDB does not have yet, as without the log; the store resumes from
  // the last file it took.
  bool own_tables = false;
  std::size_t own_table_bytes = std::size_t{64} << 20;
};

struct PendingWrites;  // a batch's writes before RocksDB has them (pending_writes.hpp)
class BatchWriter;     // the thread that hands them to RocksDB (store.cpp)
class OwnTables;       // with StoreOptions::own_tables: the batches RocksDB does not have yet
class WrittenKeys;

// A message from the log, decoded (and upcast): what the projection applies.
struct DecodedMessage {
  Position position;
  std::expected<Envelope, events::DecodeFailure> event;
};
[[nodiscard]] std::vector<DecodedMessage> decode(const std::vector<events::Message>& batch);

class ReadModelStore {
 public:
  [[nodiscard]] static std::expected<std::unique_ptr<ReadModelStore>, std::string> open(const std::string& dir,
                                                                                       StoreOptions options = {});
  ~ReadModelStore();

  // Next offset to consume, per partition.
  [[nodiscard]] std::map<std::int32_t, std::int64_t> offsets() const { return offsets_; }

  // Projects `batch` and hands it to RocksDB, which takes it on another thread while the next
  // batch is projected (over it: reads see it either way). A write that fails fails the next
  // apply() or sync(), and every later one: the caller must stop, and a restart resumes from
  // what is stored. `projecting_secs` is the projection; `writing_secs` is the wait for the
  // previous batch's write.
  [[nodiscard]] std::expected<BatchStats, std::string> apply(const std::vector<events::Message>& batch);
  // The same for messages decoded already (decode() on another thread: a replay's consumer).
  [[nodiscard]] std::expected<BatchStats, std::string> apply_decoded(const std::vector<DecodedMessage>& batch);

  // Waits until RocksDB has taken every applied batch.
  [[nodiscard]] std::expected<void, std::string> sync();

  // Writes every memtable to disk (what a store opened without a write-ahead log needs before
  // it is handed over).
  [[nodiscard]] std::expected<void, std::string> flush();

  // The database, once every applied batch is in it.
  rocksdb::DB* db();

  // Time RocksDB spent taking the batches (on its own thread), once every applied batch is in.
  [[nodiscard]] double write_secs();

 private:
  StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<WrittenKeys> written_keys_;           // with filter_written_keys, on an empty store
  std::unique_ptr<BatchWriter> writer_;                 // RocksDB taking the last applied batch (not with own_tables)
  std::unique_ptr<OwnTables> own_;                      // with own_tables
  std::unique_ptr<const PendingWrites> written_;       // its writes, until it has them
  std::string failed_;                                   // a write that failed: the store is done
  std::map<std::int32_t, std::int64_t> offsets_;
  Projection projection_;
};

// The stored next offset of every partition.
[[nodiscard]] std::map<std::int32_t, std::int64_t> read_offsets(rocksdb::DB& db);

// BLAKE2b over every key and value, in key order, as lowercase hex, leaving out rows of a
// generation no set names (KvView::put_ahead). Equal hashes mean byte-identical read models.
[[nodiscard]] std::string hash_read_models(rocksdb::DB& db);

// The store as it was at one moment, for the reads of one request: a route and the rows it names
// must come from the same state, or a reader that read a route just before a batch dropped its
// generation would find no rows. One iterator pins what it sees (on a secondary, where readers
// run, it is the only such view: snapshots are not kept there), so every read goes through it.
// Read-only.
class StoreView final : public KvView {
 public:
  explicit StoreView(rocksdb::DB& db);
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view, std::string_view) override { read_only(); }
  void del(std::string_view) override { read_only(); }
  void del_prefix(std::string_view) override { read_only(); }
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override;
  // The view's iterator, for walks of its own (positioned anywhere).
  rocksdb::Iterator& iterator() { return *it_; }

 private:
  [[noreturn]] static void read_only();
  std::unique_ptr<rocksdb::Iterator> it_;
};

// Compacts the store at `dir` (closed) whole, into its last level. A rebuild leaves its table
// files uncompacted in level 0, a few dozen for a million events: the projector that opened it
// as it is would begin by slowing its writes (RocksDB does past 20 files in level 0) or, past 36,
// stopping them until one compaction of everything has run. Returns the seconds it took.
[[nodiscard]] std::expected<double, std::string> compact_read_models(const std::string& dir);

// Opens `dir` as a RocksDB secondary (at `secondary_dir`), for readers beside a live projector.
[[nodiscard]] std::expected<std::unique_ptr<rocksdb::DB>, std::string> open_secondary(
    const std::string& dir, const std::string& secondary_dir);

}  // namespace apexloop::projector
