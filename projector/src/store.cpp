#include "apexloop/projector/store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>

#include "apexloop/events/codec.hpp"
#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/projection.hpp"

namespace apexloop::projector {
namespace {

// The writes of one consumed batch, held in key order until they go to RocksDB in one
// WriteBatch. Reads see these pending writes first, then the database. (A plain ordered map:
// RocksDB's WriteBatchWithIndex costs several times more per write on our long keys.)
class BatchKv final : public KvView {
 public:
  explicit BatchKv(rocksdb::DB& db) : db_(db) {}
  std::optional<std::string> get(std::string_view key) override {
    if (auto it = pending_.find(key); it != pending_.end()) return it->second;
    std::string value;
    const auto s = db_.Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) throw std::runtime_error("rocksdb get: " + s.ToString());
    return value;
  }
  void put(std::string_view key, std::string_view value) override {
    auto it = pending_.lower_bound(key);
    if (it != pending_.end() && it->first == key) {
      it->second.emplace(value);
    } else {
      pending_.emplace_hint(it, std::string(key), std::string(value));
    }
  }
  void del(std::string_view key) override {
    auto it = pending_.lower_bound(key);
    if (it != pending_.end() && it->first == key) {
      it->second.reset();
    } else {
      pending_.emplace_hint(it, std::string(key), std::nullopt);
    }
  }
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override {
    // Collected first (the stored keys merged with the pending ones, pending winning): `fn` may
    // write, which must not disturb the walk.
    std::vector<std::pair<std::string, std::string>> hits;
    {
      // One iterator serves every scan of the batch: the database does not change until the
      // batch is written, and making an iterator costs more than most scans.
      if (!it_) it_.reset(db_.NewIterator(rocksdb::ReadOptions()));
      auto& it = it_;
      const rocksdb::Slice p(prefix.data(), prefix.size());
      auto mine = pending_.lower_bound(prefix);
      auto mine_in = [&] { return mine != pending_.end() && std::string_view(mine->first).starts_with(prefix); };
      it->Seek(p);
      auto stored_in = [&] { return it->Valid() && it->key().starts_with(p); };
      while (stored_in() || mine_in()) {
        const int order = !stored_in() ? 1 : !mine_in() ? -1 : it->key().compare(rocksdb::Slice(mine->first));
        if (order < 0) {
          hits.emplace_back(it->key().ToString(), it->value().ToString());
          it->Next();
          continue;
        }
        if (mine->second) hits.emplace_back(mine->first, *mine->second);
        if (order == 0) it->Next();
        ++mine;
      }
      if (!it->status().ok()) throw std::runtime_error("rocksdb scan: " + it->status().ToString());
    }
    for (const auto& [k, v] : hits) fn(k, v);
  }
  // Moves the pending writes into `batch`, in key order.
  void write_to(rocksdb::WriteBatch& batch) {
    for (const auto& [k, v] : pending_) {
      const auto s = v ? batch.Put(k, *v) : batch.Delete(k);
      if (!s.ok()) throw std::runtime_error("rocksdb batch: " + s.ToString());
    }
    pending_.clear();
    it_.reset();
  }

 private:
  rocksdb::DB& db_;
  std::unique_ptr<rocksdb::Iterator> it_;
  std::map<std::string, std::optional<std::string>, std::less<>> pending_;
};

rocksdb::Options base_options() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_open_files = -1;  // secondaries require it
  o.compression = rocksdb::kNoCompression;
  // Readers opened as secondaries replay the WAL; keep recently obsolete WAL files a while so a
  // reader that catches up late does not find them gone.
  o.WAL_ttl_seconds = 600;
  // Most projection reads are point lookups that miss (does this record exist yet, was it
  // visible to this set): bloom filters answer those without touching data blocks.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(128u << 20);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Batches reach the memtable in key order. Without a hint, an insert that does not land right
  // after the previous one re-walks the skip list from the top; with one (kept per key family,
  // "pv/", "ro/", ...) it climbs only as far as it must.
  o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(3));
  o.write_buffer_size = 64u << 20;
  o.max_write_buffer_number = 4;
  o.IncreaseParallelism(2);
  return o;
}

}  // namespace

std::expected<std::unique_ptr<ReadModelStore>, std::string> ReadModelStore::open(const std::string& dir) {
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::Open(base_options(), dir, &raw);
  if (!s.ok()) return std::unexpected("rocksdb open " + dir + ": " + s.ToString());
  std::unique_ptr<ReadModelStore> store(new ReadModelStore());
  store->db_.reset(raw);
  store->offsets_ = read_offsets(*raw);
  BatchKv kv(*raw);
  try {
    if (auto loaded = store->projection_.load(kv); !loaded) return std::unexpected("read models: " + loaded.error());
  } catch (const std::exception& ex) {
    return std::unexpected(ex.what());
  }
  return store;
}

std::map<std::int32_t, std::int64_t> read_offsets(rocksdb::DB& db) {
  std::map<std::int32_t, std::int64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::kOffsetPrefix); it->Valid() && it->key().starts_with(keys::kOffsetPrefix); it->Next()) {
    const auto k = it->key().ToStringView().substr(keys::kOffsetPrefix.size());
    const auto v = it->value().ToStringView();
    std::int32_t p = 0;
    std::int64_t off = 0;
    std::from_chars(k.data(), k.data() + k.size(), p);
    std::from_chars(v.data(), v.data() + v.size(), off);
    out[p] = off;
  }
  return out;
}

ReadModelStore::~ReadModelStore() = default;

std::expected<BatchStats, std::string> ReadModelStore::apply(const std::vector<events::Message>& batch) {
  BatchStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  BatchKv kv(*db_);
  auto next = offsets_;
  try {
    for (const auto& m : batch) {
      auto it = next.find(m.position.partition);
      if (it != next.end() && m.position.offset < it->second) {
        ++stats.skipped;
        continue;
      }
      next[m.position.partition] = m.position.offset + 1;
      auto e = events::decode(m.value);
      if (!e) {
        ++stats.rejected;
        spdlog::error("event=event_rejected position={} reason=\"{}\"", to_string(m.position), e.error().detail);
        continue;
      }
      auto r = projection_.apply(*e, m.position, kv);
      if (!r) {
        ++stats.rejected;
        spdlog::error("event=event_rejected position={} type={} reason=\"{}\"", to_string(m.position), e->type,
                      r.error());
        continue;
      }
      ++stats.applied;
      stats.last_event_at_ms = e->at.ms;
    }
  } catch (const std::exception& ex) {
    return std::unexpected(ex.what());
  }
  for (const auto& [p, off] : next) {
    if (offsets_[p] != off) kv.put(keys::offset(p), std::to_string(off));
  }
  rocksdb::WriteBatch write;
  try {
    kv.write_to(write);
  } catch (const std::exception& ex) {
    return std::unexpected(ex.what());
  }
  const auto t1 = std::chrono::steady_clock::now();
  const auto s = db_->Write(rocksdb::WriteOptions(), &write);
  if (!s.ok()) return std::unexpected("rocksdb write: " + s.ToString());
  stats.projecting_secs = std::chrono::duration<double>(t1 - t0).count();
  stats.writing_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  offsets_ = std::move(next);
  return stats;
}

std::string hash_read_models(rocksdb::DB& db) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    // Length-prefixed so that key/value boundaries cannot shift between two stores.
    for (const rocksdb::Slice s : {it->key(), it->value()}) {
      const std::uint64_t n = s.size();
      crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(&n), sizeof n);
      crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(s.data()), s.size());
    }
  }
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, out);
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return hex;
}

std::optional<std::string> served_record(rocksdb::DB& db, std::string_view ws, std::string_view set, std::string_view db_key,
                                         std::string_view id) {
  BatchKv kv(db);  // nothing pending: reads go straight to the store
  return served_record(kv, ws, set, db_key, id);
}

std::expected<std::unique_ptr<rocksdb::DB>, std::string> open_secondary(const std::string& dir,
                                                                        const std::string& secondary_dir) {
  rocksdb::Options o = base_options();
  o.create_if_missing = false;
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::OpenAsSecondary(o, dir, secondary_dir, &raw);
  if (!s.ok()) return std::unexpected("rocksdb open secondary " + dir + ": " + s.ToString());
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace apexloop::projector
