#include "apexloop/projector/store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>

#include "apexloop/events/codec.hpp"
#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/memtable.hpp"
#include "apexloop/projector/own_tables.hpp"
#include "apexloop/projector/pending_writes.hpp"
#include "apexloop/projector/projection.hpp"
#include "apexloop/projector/written_keys.hpp"

namespace apexloop::projector {
namespace {

// Every stored key under `prefix` merged with the pending run `mine` (which wins), in order,
// less the stored keys under a prefix the pending layers dropped. The store does not change
// while a batch is open, so it is walked in place.
void merged_scan(rocksdb::Iterator& it, std::string_view prefix, const PendingRun& mine,
                 const std::vector<std::string_view>& dropped,
                 const std::function<void(std::string_view, std::string_view)>& fn) {
  const rocksdb::Slice p(prefix.data(), prefix.size());
  auto m = mine.begin();
  it.Seek(p);
  auto stored_in = [&] { return it.Valid() && it.key().starts_with(p); };
  while (stored_in() || m != mine.end()) {
    const int order = !stored_in()        ? 1
                      : m == mine.end()   ? -1
                                          : it.key().compare(rocksdb::Slice(m->first.data(), m->first.size()));
    if (order < 0) {
      const auto key = it.key().ToStringView();
      if (!under_any(dropped, key)) fn(key, it.value().ToStringView());
      it.Next();
      continue;
    }
    if (m->second) fn(m->first, *m->second);
    if (order == 0) it.Next();
    ++m;
  }
  if (!it.status().ok()) throw std::runtime_error("rocksdb scan: " + it.status().ToString());
}

// An iterator for one scan of `prefix`, bounded by the first key past it, so that the scan's
// last step stops there instead of skipping the deleted and overwritten entries beyond it.
class PrefixIterator {
 public:
  PrefixIterator(rocksdb::DB& db, std::string_view prefix) : bound_(prefix_end(prefix)) {
    rocksdb::ReadOptions ro;
    if (!bound_.empty()) {
      upper_ = rocksdb::Slice(bound_);
      ro.iterate_upper_bound = &upper_;
    }
    it_.reset(db.NewIterator(ro));
  }
  PrefixIterator(const PrefixIterator&) = delete;
  PrefixIterator& operator=(const PrefixIterator&) = delete;
  rocksdb::Iterator& operator*() { return *it_; }

 private:
  std::string bound_;
  rocksdb::Slice upper_;  // into bound_, which the iterator reads as long as it lives
  std::unique_ptr<rocksdb::Iterator> it_;
};

std::optional<std::string> stored_get(rocksdb::DB& db, std::string_view key) {
  std::string value;
  const auto s = db.Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) throw std::runtime_error("rocksdb get: " + s.ToString());
  return value;
}

// Writes ahead of a batch (KvView::put_ahead), in chunks of up to 32 MB (what one fork holds
// for one set, most often all of it): each chunk goes to RocksDB from the thread that filled it,
// while the other fork goes on projecting. (Chunks of 0.5, 2, 8, 16 and 32 MB were timed on the
// re-projection bench: fewer, bigger writes came out a little ahead.)
class AheadWriter {
 public:
  AheadWriter(rocksdb::DB& db, const rocksdb::WriteOptions& wo, WrittenKeys* written_keys)
      : db_(db), wo_(wo), written_keys_(written_keys) {}
  void put(std::string_view key, std::string_view value) {
    require_key(key);
    const auto s = batch_.Put(rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
    if (!s.ok()) throw std::runtime_error("rocksdb batch: " + s.ToString());
    if (written_keys_ != nullptr) hashes_.push_back(WrittenKeys::hash(key));
    if (batch_.GetDataSize() >= kChunkBytes) flush();
  }
  void flush() {
    if (batch_.Count() == 0) return;
    if (written_keys_ != nullptr) {  // before RocksDB has them: a read that misses the filter is final
      written_keys_->add(hashes_);
      hashes_.clear();
    }
    const auto s = db_.Write(wo_, &batch_);
    if (!s.ok()) throw std::runtime_error("rocksdb write: " + s.ToString());
    batch_.Clear();
  }

 private:
  static constexpr std::size_t kChunkBytes = std::size_t{32} << 20;
  rocksdb::DB& db_;
  rocksdb::WriteOptions wo_;
  WrittenKeys* written_keys_;
  std::vector<std::uint64_t> hashes_;  // of the keys in batch_, for written_keys_
  rocksdb::WriteBatch batch_;
};

class BatchKv;

// Work split across threads within one batch (KvView::fork): reads see this fork's own
// writes, then the batch's (which nobody writes until every fork has joined), then the store.
class ForkKv final : public KvView {
 public:
  ForkKv(const BatchKv& batch, rocksdb::DB& db, const rocksdb::WriteOptions& wo, WrittenKeys* written_keys)
      : batch_(batch), db_(db), ahead_(db, wo, written_keys) {}
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override { projector::put(*pending_, key, value); }
  void put_ahead(std::string_view key, std::string_view value) override { ahead_.put(key, value); }
  void flush_ahead() override { ahead_.flush(); }
  void del(std::string_view key) override { slot(*pending_, key).reset(); }
  void del_prefix(std::string_view prefix) override { drop_prefix(*pending_, prefix); }
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override;

 private:
  friend class BatchKv;
  const BatchKv& batch_;
  rocksdb::DB& db_;
  AheadWriter ahead_;
  std::unique_ptr<Pending> pending_ = std::make_unique<Pending>();
};

// The writes of one consumed batch, held in key order until they go to RocksDB in one
// WriteBatch (or, with own tables, into a window: own_tables.hpp). Reads see these pending
// writes first, then the earlier batches RocksDB may not have yet, then the database. (A plain
// ordered map: RocksDB's WriteBatchWithIndex costs several times more per write on our long
// keys.)
class BatchKv final : public KvView {
 public:
  // `written` is the previous batch while RocksDB may still be taking it: reads see it under
  // this batch's own writes (whether or not the store has it yet, it says the same).
  // Writes ahead go with `wo` (the store's: with or without its write-ahead log).
  // `written_keys`, when the store keeps one, has every key it has written: reads of any other
  // key end there (write_pending() and the writes ahead add theirs).
  // `own`, with StoreOptions::own_tables, holds the earlier batches RocksDB does not have yet.
  explicit BatchKv(rocksdb::DB& db, const Pending* written = nullptr, const rocksdb::WriteOptions& wo = {},
                   WrittenKeys* written_keys = nullptr, const OwnTables* own = nullptr)
      : db_(db), written_(written), wo_(wo), written_keys_(written_keys), own_(own), ahead_(db, wo, written_keys) {}
  std::optional<std::string> get(std::string_view key) override { return shared_get(key); }
  void put(std::string_view key, std::string_view value) override { projector::put(*pending_, key, value); }
  void put_ahead(std::string_view key, std::string_view value) override { ahead_.put(key, value); }
  void flush_ahead() override { ahead_.flush(); }
  void del(std::string_view key) override { slot(*pending_, key).reset(); }
  void del_prefix(std::string_view prefix) override { drop_prefix(*pending_, prefix); }
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override {
    // What `fn` sees is the view as it was when the scan began: `fn` may write, even under the
    // prefix, without disturbing the walk (the pending side is copied first; it is small).
    const PendingRun mine = shared_pending(prefix);
    // One iterator serves every (non-nested) scan of the batch: making one costs more than
    // most scans. A scan inside `fn` walks with its own.
    const auto dropped = shared_dropped();
    if (scanning_) {
      PrefixIterator own(db_, prefix);
      merged_scan(*own, prefix, mine, dropped, fn);
      return;
    }
    if (!it_) it_.reset(db_.NewIterator(rocksdb::ReadOptions()));
    ++scanning_;
    try {
      merged_scan(*it_, prefix, mine, dropped, fn);
    } catch (...) {
      --scanning_;
      throw;
    }
    --scanning_;
  }
  std::unique_ptr<KvView> fork() override { return std::make_unique<ForkKv>(*this, db_, wo_, written_keys_); }
  void join(KvView& forked) override {
    // The fork's entries are taken as they are, its arena with them.
    auto& f = dynamic_cast<ForkKv&>(forked);
    for (const auto p : f.pending_->dropped) drop_prefix(*pending_, p);
    for (const auto& [k, v] : f.pending_->entries) slot(*pending_, k, true) = v;
    pending_->adopted.push_back(std::exchange(f.pending_, std::make_unique<Pending>()));
  }

  // Reads that may run on several threads at once while nothing writes this view (forks).
  std::optional<std::string> shared_get(std::string_view key) const {
    std::optional<std::string> out;
    if (pending_->answers(key, out) || (written_ != nullptr && written_->answers(key, out))) return out;
    if (written_keys_ != nullptr && !written_keys_->may_contain(key)) return std::nullopt;
    if (own_ != nullptr && own_->answers(key, out)) return out;
    return stored_get(db_, key);
  }
  // The prefixes the pending layers dropped: stored keys under them are gone.
  std::vector<std::string_view> shared_dropped() const {
    std::vector<std::string_view> out(pending_->dropped.begin(), pending_->dropped.end());
    if (written_ != nullptr) out.insert(out.end(), written_->dropped.begin(), written_->dropped.end());
    if (own_ != nullptr) own_->dropped(out);
    return out;
  }
  PendingRun shared_pending(std::string_view prefix) const {
    PendingRun under = own_ != nullptr ? own_->run(prefix) : PendingRun{};
    if (written_ != nullptr) under = overlay(*written_, prefix, std::move(under));
    return overlay(*pending_, prefix, std::move(under));
  }

  // The pending writes, taken (this view is done with).
  std::unique_ptr<Pending> take() && {
    it_.reset();
    return std::exchange(pending_, std::make_unique<Pending>());
  }

 private:
  rocksdb::DB& db_;
  const Pending* written_;
  rocksdb::WriteOptions wo_;
  WrittenKeys* written_keys_;
  const OwnTables* own_;
  AheadWriter ahead_;
  std::unique_ptr<rocksdb::Iterator> it_;
  int scanning_ = 0;  // scans in progress (a scan's callback may scan)
  std::unique_ptr<Pending> pending_ = std::make_unique<Pending>();
};

// Copies a batch's pending writes into `batch`: the dropped prefixes first (what was written
// under them since comes after, so the range deletions do not cover it), then the entries in key
// order. `written_keys` (the store's filter, when it keeps one) has them from now on.
// `hashes` gets the hash of every key in the batch, in its order (deletions too: the filter
// may say "maybe" of a key that is gone), for the memtable's insert hints; it is scratch space,
// reused from batch to batch.
void write_pending(const Pending& pending, WrittenKeys* written_keys, rocksdb::WriteBatch& batch,
                   std::vector<std::uint64_t>& hashes) {
  hashes.clear();
  hashes.reserve(pending.entries.size());
  for (const auto& entry : pending.entries) hashes.push_back(memtable_hash(entry.first));
  if (written_keys != nullptr) written_keys->add(hashes);
  for (const auto p : pending.dropped) {
    const std::string end = prefix_end(p);
    if (end.empty()) throw std::logic_error("del_prefix past every key");
    const auto s = batch.DeleteRange(rocksdb::Slice(p.data(), p.size()), end);
    if (!s.ok()) throw std::runtime_error("rocksdb batch: " + s.ToString());
  }
  for (const auto& [k, v] : pending.entries) {
    const rocksdb::Slice key(k.data(), k.size());
    const auto s = v ? batch.Put(key, rocksdb::Slice(v->data(), v->size())) : batch.Delete(key);
    if (!s.ok()) throw std::runtime_error("rocksdb batch: " + s.ToString());
  }
}

std::optional<std::string> ForkKv::get(std::string_view key) {
  std::optional<std::string> out;
  if (pending_->answers(key, out)) return out;
  return batch_.shared_get(key);
}

void ForkKv::scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) {
  const PendingRun mine = overlay(*pending_, prefix, batch_.shared_pending(prefix));
  auto dropped = batch_.shared_dropped();
  dropped.insert(dropped.end(), pending_->dropped.begin(), pending_->dropped.end());
  PrefixIterator it(db_, prefix);
  merged_scan(*it, prefix, mine, dropped, fn);
}

rocksdb::Options base_options(const StoreOptions& options = {}) {
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
  o.write_buffer_size = options.write_buffer_bytes;
  o.disable_auto_compactions = !options.compact;
  o.max_write_buffer_number = options.write_buffers;
  o.IncreaseParallelism(2);
  // Table files are handed to the kernel's writeback a megabyte at a time as a flush writes
  // them, not all at its closing sync: the last flush of a replay waited ~0.1 s less for that.
  o.bytes_per_sync = 1u << 20;
  return o;
}

rocksdb::WriteOptions write_options(const StoreOptions& options) {
  rocksdb::WriteOptions wo;
  wo.disableWAL = !options.write_ahead_log;
  return wo;
}

}  // namespace

// One thread, for as long as the store is open, that hands each applied batch to RocksDB while
// the next one is projected. Its WriteBatch buffer and the scratch for the written keys' hashes
// are kept from batch to batch (up to kKeptBytes), where a thread per batch (std::async) began
// each batch with a new thread and an empty buffer: 500 of each for a million events.
class BatchWriter {
 public:
  BatchWriter(rocksdb::DB& db, const rocksdb::WriteOptions& wo, WrittenKeys* written_keys)
      : db_(db), wo_(wo), written_keys_(written_keys) {
    thread_ = std::thread([this] { run(); });
  }
  ~BatchWriter() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Starts writing `pending` (which must outlive the write); none may be in flight.
  void start(const Pending& pending) {
    {
      std::lock_guard lock(mu_);
      job_ = &pending;
    }
    changed_.notify_all();
  }
  // Waits for the write in flight, if any: "" once RocksDB has it, else what failed.
  std::string wait() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return job_ == nullptr; });
    return std::exchange(error_, {});
  }
  // Seconds spent writing so far (read after wait()).
  [[nodiscard]] double secs() const { return secs_; }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      changed_.wait(lock, [&] { return closing_ || job_ != nullptr; });
      if (job_ == nullptr) return;  // closing, and nothing in flight
      const Pending& pending = *job_;
      lock.unlock();
      const auto t = std::chrono::steady_clock::now();
      std::string error;
      batch_.Clear();
      try {
        write_pending(pending, written_keys_, batch_, hashes_);
        memtable_insert_hints(hashes_);
        const auto st = db_.Write(wo_, &batch_);
        memtable_insert_hints({});
        if (!st.ok()) error = "rocksdb write: " + st.ToString();
      } catch (const std::exception& ex) {
        error = ex.what();
      }
      if (batch_.GetDataSize() > kKeptBytes) batch_ = rocksdb::WriteBatch();  // a rare big one: let it go
      secs_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
      lock.lock();
      error_ = std::move(error);
      job_ = nullptr;
      changed_.notify_all();
    }
  }

  static constexpr std::size_t kKeptBytes = std::size_t{16} << 20;
  rocksdb::DB& db_;
  const rocksdb::WriteOptions wo_;
  WrittenKeys* const written_keys_;
  // Only the writer thread touches these.
  rocksdb::WriteBatch batch_;
  std::vector<std::uint64_t> hashes_;
  double secs_ = 0;  // read by others only after wait()
  std::mutex mu_;
  std::condition_variable changed_;
  const Pending* job_ = nullptr;  // the write in flight, until RocksDB has it
  bool closing_ = false;
  std::string error_;
  std::thread thread_;  // last: it starts once the rest is set up
};

std::expected<std::unique_ptr<ReadModelStore>, std::string> ReadModelStore::open(const std::string& dir,
                                                                                StoreOptions options) {
  if (options.own_tables && options.write_ahead_log) {
    return std::unexpected("store " + dir + ": own table files need the write-ahead log off");
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Options o = base_options(options);
  // The writer's batches reach the memtable in key order: its skip list takes each key from
  // where the last went in (see memtable.hpp), one writer at a time. Readers (secondaries) keep
  // RocksDB's own: they insert only what they catch up on, and its lookups are better tuned
  // for reads (the read bench served ~15% fewer requests through ours).
  // Its hash index answers a read of a key it does not hold (is this record new?) as a bloom
  // filter would, and exactly: the store needs no memtable bloom filter. The sets' keys stay out
  // of it: most of what a record writes (its rows in each set, the notices), they are written to
  // be scanned and read back one by one only on some updates (with a policy, 1M creations took
  // ~5% longer with them indexed).
  o.memtable_factory = ordered_memtable(options.write_buffer_bytes, keys::kSetsPrefix);
  o.allow_concurrent_memtable_write = false;
  const auto s = rocksdb::DB::Open(o, dir, &raw);
  if (!s.ok()) return std::unexpected("rocksdb open " + dir + ": " + s.ToString());
  std::unique_ptr<ReadModelStore> store(new ReadModelStore());
  store->options_ = options;
  store->db_.reset(raw);
  store->offsets_ = read_offsets(*raw);
  if (options.filter_written_keys) {
    std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (!it->status().ok()) return std::unexpected("rocksdb read " + dir + ": " + it->status().ToString());
    if (!it->Valid()) store->written_keys_ = std::make_unique<WrittenKeys>();  // (a resumed rebuild: none)
  }
  BatchKv kv(*raw);
  try {
    if (auto loaded = store->projection_.load(kv); !loaded) return std::unexpected("read models: " + loaded.error());
  } catch (const std::exception& ex) {
    return std::unexpected(ex.what());
  }
  if (!options.own_tables) {
    store->writer_ = std::make_unique<BatchWriter>(*raw, write_options(options), store->written_keys_.get());
  } else {
    // A run cut short leaves a file it had not handed over yet; nothing refers to it.
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
      if (f.path().filename().string().starts_with("bulk-")) std::filesystem::remove(f.path(), ec);
    }
    store->own_ = std::make_unique<OwnTables>(*raw, dir, options.own_table_bytes);
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

ReadModelStore::~ReadModelStore() { (void)sync(); }

std::expected<void, std::string> ReadModelStore::sync() {
  if (own_ && failed_.empty()) {
    if (auto done = own_->finish(); !done) failed_ = done.error();
  }
  if (written_) {
    std::string error = writer_->wait();
    written_.reset();
    if (!error.empty()) failed_ = std::move(error);
  }
  if (!failed_.empty()) return std::unexpected(failed_);
  return {};
}

double ReadModelStore::write_secs() {
  (void)sync();
  return own_ ? own_->write_secs() : writer_->secs();
}

rocksdb::DB* ReadModelStore::db() {
  (void)sync();
  return db_.get();
}

std::vector<DecodedMessage> decode(const std::vector<events::Message>& batch) {
  std::vector<DecodedMessage> out;
  out.reserve(batch.size());
  for (const auto& m : batch) out.push_back({m.position, events::decode(m.value)});
  return out;
}

std::expected<BatchStats, std::string> ReadModelStore::apply(const std::vector<events::Message>& batch) {
  return apply_decoded(decode(batch));
}

std::expected<BatchStats, std::string> ReadModelStore::apply_decoded(const std::vector<DecodedMessage>& batch) {
  if (!failed_.empty()) return std::unexpected(failed_);
  BatchStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  // While RocksDB takes the previous batch (on its own thread), this one is projected over it.
  const rocksdb::WriteOptions wo = write_options(options_);
  BatchKv kv(*db_, written_.get(), wo, written_keys_.get(), own_.get());
  auto next = offsets_;
  try {
    for (const auto& m : batch) {
      auto it = next.find(m.position.partition);
      if (it != next.end() && m.position.offset < it->second) {
        ++stats.skipped;
        continue;
      }
      next[m.position.partition] = m.position.offset + 1;
      const auto& e = m.event;
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
  try {
    kv.flush_ahead();  // the projection flushes what it writes ahead itself; nothing may trail the batch
  } catch (const std::exception& ex) {
    return std::unexpected(ex.what());
  }
  const auto t1 = std::chrono::steady_clock::now();
  if (own_) {
    // Into the open window (and the filter of written keys): the next batch reads through it.
    if (auto taken = own_->add(std::move(kv).take(), written_keys_.get()); !taken) {
      failed_ = taken.error();
      return std::unexpected(failed_);
    }
  } else {
    // Batches reach RocksDB one at a time and in order: the previous one first.
    if (auto done = sync(); !done) return std::unexpected(done.error());
    written_ = std::move(kv).take();
    // The batch is copied into a WriteBatch on the writer's thread too. Its pending writes stay
    // as they are (the next batch reads through them) until the next sync(), which waits for
    // that write: so its keys are in the filter of written keys before they are read past them.
    writer_->start(*written_);
  }
  stats.projecting_secs = std::chrono::duration<double>(t1 - t0).count();
  stats.writing_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  offsets_ = std::move(next);
  return stats;
}

std::expected<void, std::string> ReadModelStore::flush() {
  if (auto done = sync(); !done) return done;
  const auto s = db_->Flush(rocksdb::FlushOptions());
  if (!s.ok()) return std::unexpected("rocksdb flush: " + s.ToString());
  return {};
}

std::string hash_read_models(rocksdb::DB& db) {
  // BLAKE2b (libsodium's generic hash): about three times SHA-256's speed here, and replay
  // --verify hashes every byte of two stores.
  // (sodium_init picks the CPU's fastest implementation; it is idempotent.)
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, crypto_generichash_BYTES);
  // Rows of a generation their set does not name (yet) are not read models: they are rows
  // written ahead of a batch that has not landed (KvView::put_ahead). Nobody reads them.
  std::string gen_of_key, named_gen;
  auto named = [&](const keys::GenRow& row) {
    const std::string key = keys::list_gen(row.ws, row.set, row.db);
    if (key != gen_of_key) {
      gen_of_key = key;
      named_gen = stored_get(db, key).value_or("");
    }
    return row.gen == named_gen;
  };
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (auto row = keys::gen_row(it->key().ToStringView()); row && !named(*row)) continue;
    // Length-prefixed so that key/value boundaries cannot shift between two stores.
    for (const rocksdb::Slice s : {it->key(), it->value()}) {
      const std::uint64_t n = s.size();
      crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(&n), sizeof n);
      crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(s.data()), s.size());
    }
  }
  unsigned char out[crypto_generichash_BYTES];
  crypto_generichash_final(&st, out, sizeof out);
  char hex[crypto_generichash_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return hex;
}

StoreView::StoreView(rocksdb::DB& db) : it_(db.NewIterator(rocksdb::ReadOptions())) {}

std::optional<std::string> StoreView::get(std::string_view key) {
  const rocksdb::Slice k(key.data(), key.size());
  it_->Seek(k);
  if (it_->Valid() && it_->key() == k) return it_->value().ToString();
  if (!it_->status().ok()) throw std::runtime_error("rocksdb read: " + it_->status().ToString());
  return std::nullopt;
}

void StoreView::scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) {
  const rocksdb::Slice p(prefix.data(), prefix.size());
  // Collected first: `fn` may read through this view, which moves the iterator.
  std::vector<std::pair<std::string, std::string>> hits;
  for (it_->Seek(p); it_->Valid() && it_->key().starts_with(p); it_->Next()) hits.emplace_back(it_->key().ToString(), it_->value().ToString());
  if (!it_->status().ok()) throw std::runtime_error("rocksdb scan: " + it_->status().ToString());
  for (const auto& [k, v] : hits) fn(k, v);
}

void StoreView::read_only() { throw std::logic_error("a StoreView is read-only"); }

std::expected<double, std::string> compact_read_models(const std::string& dir) {
  const auto t = std::chrono::steady_clock::now();
  rocksdb::Options o = base_options();
  o.create_if_missing = false;
  o.max_subcompactions = 2;  // one compaction of everything, split in key ranges over both cores
  rocksdb::DB* raw = nullptr;
  if (const auto s = rocksdb::DB::Open(o, dir, &raw); !s.ok()) return std::unexpected("rocksdb open " + dir + ": " + s.ToString());
  const std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::CompactRangeOptions all;
  all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  if (const auto s = db->CompactRange(all, nullptr, nullptr); !s.ok()) return std::unexpected("rocksdb compact " + dir + ": " + s.ToString());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::expected<std::unique_ptr<rocksdb::DB>, std::string> open_secondary(const std::string& dir,
                                                                        const std::string& secondary_dir) {
  rocksdb::Options o = base_options();
  o.create_if_missing = false;
  // Its memtables are RocksDB's own skip lists: a bloom filter over their keys answers a read of
  // a key they do not hold without walking down the list.
  o.memtable_prefix_bloom_size_ratio = 0.05;  // of the memtable's size
  o.memtable_whole_key_filtering = true;
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::OpenAsSecondary(o, dir, secondary_dir, &raw);
  if (!s.ok()) return std::unexpected("rocksdb open secondary " + dir + ": " + s.ToString());
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace apexloop::projector
