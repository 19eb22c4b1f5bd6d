#include "apexloop/projector/own_tables.hpp"

#include <rocksdb/db.h>
#include <pthread.h>
#include <rocksdb/sst_file_writer.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "apexloop/projector/written_keys.hpp"

namespace apexloop::projector {
namespace {

// One batch's writes in a window: its entries laid out flat, in key order (what the merge and
// the index read), and the batch itself (whose arena holds their bytes, and its drops).
struct Layer {
  std::unique_ptr<const Pending> batch;
  PendingRun entries;
};

// A key in a window's index: its newest entry, and the batch (layer) that wrote it.
struct Indexed {
  std::uint64_t hash;
  const PendingRun::value_type* entry;  // nullptr: an empty slot
  std::uint32_t layer;
};

// Calls emit(key, slot) for the newest entry of each key under `prefix` in `layers` (oldest
// first), in key order, leaving out what a later layer dropped.
//
// A tournament of the layers (a tree of losers): the next key costs one comparison per level,
// about log2(layers), where a heap takes about twice that. Keys here share long prefixes, and
// the comparisons were most of the merge's time.
template <class Emit>
void merge_layers(const std::vector<const Layer*>& layers, std::string_view prefix, Emit&& emit) {
  struct Cursor {
    const PendingRun::value_type* at;
    const PendingRun::value_type* end;
  };
  const std::size_t k = layers.size();
  std::vector<Cursor> cursors(k);
  std::size_t last_drop = 0;  // one past the last layer that dropped anything
  for (std::size_t l = 0; l < k; ++l) {
    const PendingRun& run = layers[l]->entries;
    const auto* first = run.data();
    const auto* last = run.data() + run.size();
    if (!prefix.empty()) {
      first = std::lower_bound(first, last, prefix, [](const auto& e, std::string_view p) { return e.first < p; });
      last = first;
      while (last != run.data() + run.size() && last->first.starts_with(prefix)) ++last;
    }
    cursors[l] = {first, last};
    if (!layers[l]->batch->dropped.empty()) last_drop = l + 1;
  }
  if (k == 0) return;
  // Whether layer a's next entry goes before layer b's: the lesser key, and of one key the newer
  // layer. A layer with nothing left goes after every other.
  auto before = [&](std::size_t a, std::size_t b) {
    const Cursor& x = cursors[a];
    const Cursor& y = cursors[b];
    if (x.at == x.end) return false;
    if (y.at == y.end) return true;
    const int c = x.at->first.compare(y.at->first);
    return c != 0 ? c < 0 : a > b;
  };
  // Leaves at k..2k-1 (layer i at k + i), each inner node keeping the loser of its match.
  std::vector<std::size_t> loser(k), winner(2 * k);
  for (std::size_t i = 0; i < k; ++i) winner[k + i] = i;
  for (std::size_t n = k - 1; n > 0; --n) {
    const std::size_t a = winner[2 * n], b = winner[2 * n + 1];
    winner[n] = before(a, b) ? a : b;
    loser[n] = winner[n] == a ? b : a;
  }
  std::size_t top = k == 1 ? 0 : winner[1];
  // Layer `l` moved on: plays its way up from its leaf.
  auto replay = [&](std::size_t l) {
    for (std::size_t n = (k + l) / 2; n > 0; n /= 2) {
      if (before(loser[n], l)) std::swap(loser[n], l);
    }
    top = l;
  };
  auto hidden = [&](std::string_view key, std::size_t layer) {
    for (std::size_t l = layer + 1; l < last_drop; ++l) {
      if (layers[l]->batch->dropped_in(key)) return true;
    }
    return false;
  };
  while (cursors[top].at != cursors[top].end) {
    const auto* newest = cursors[top].at;
    if (!hidden(newest->first, top)) emit(newest->first, newest->second);
    // Moves on past the key in every layer that has it (the newest first, on top).
    do {
      ++cursors[top].at;
      replay(top);
    } while (cursors[top].at != cursors[top].end && cursors[top].at->first == newest->first);
  }
}

}  // namespace

// A window: the writes of consecutive batches, oldest first, with a hash index of their keys.
class Window {
 public:
  // Adds the next batch's writes; `hashes` is scratch space for their keys' WrittenKeys::hash.
  void add(std::unique_ptr<const Pending> batch, std::vector<std::uint64_t>& hashes, WrittenKeys* written_keys);
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  [[nodiscard]] std::size_t entries() const { return index_used_; }
  [[nodiscard]] bool empty() const { return layers_.empty(); }
  const std::vector<Layer>& layers() const { return layers_; }

  // What the window says of `key` (hashed `h`): true and `out` set (a value, or nullopt for a
  // deletion or a dropped prefix over it), or false when older writes must answer.
  bool answers(std::string_view key, std::uint64_t h, std::optional<std::string>& out) const;
  // Whether a batch from `layer` on dropped a prefix over `key`.
  bool dropped_since(std::string_view key, std::size_t layer) const {
    return std::any_of(dropped_.begin(), dropped_.end(),
                       [&](const auto& d) { return d.first >= layer && key.starts_with(d.second); });
  }
  void dropped(std::vector<std::string_view>& out) const {
    for (const auto& d : dropped_) out.push_back(d.second);
  }

 private:
  // What a window counts for each entry besides its bytes: the map node, the flat entry, the
  // index slot.
  static constexpr std::size_t kEntryOverhead = 128;
  void place(const Indexed& e);
  void grow();

  std::vector<Layer> layers_;
  std::vector<std::pair<std::uint32_t, std::string_view>> dropped_;  // (layer, prefix)
  std::vector<Indexed> index_;  // open addressing, at most half full
  std::size_t index_used_ = 0;
  std::size_t bytes_ = 0;
};

void Window::add(std::unique_ptr<const Pending> batch, std::vector<std::uint64_t>& hashes, WrittenKeys* written_keys) {
  const auto layer = static_cast<std::uint32_t>(layers_.size());
  Layer& l = layers_.emplace_back(Layer{std::move(batch), {}});
  l.entries.reserve(l.batch->entries.size());
  hashes.clear();
  for (const auto& [k, v] : l.batch->entries) {
    l.entries.emplace_back(k, v);
    hashes.push_back(WrittenKeys::hash(k));
    bytes_ += k.size() + (v ? v->size() : 0) + kEntryOverhead;
  }
  if (written_keys != nullptr) written_keys->add(hashes);
  for (const auto p : l.batch->dropped) dropped_.emplace_back(layer, p);
  while ((index_used_ + l.entries.size()) * 2 > index_.size()) grow();
  for (std::size_t i = 0; i < l.entries.size(); ++i) place({hashes[i], &l.entries[i], layer});
}

bool Window::answers(std::string_view key, std::uint64_t h, std::optional<std::string>& out) const {
  if (!index_.empty()) {
    for (std::size_t i = h & (index_.size() - 1);; i = (i + 1) & (index_.size() - 1)) {
      const Indexed& e = index_[i];
      if (e.entry == nullptr) break;
      if (e.hash != h || e.entry->first != key) continue;
      if (dropped_since(key, e.layer + 1)) break;  // gone since: answered below
      out = e.entry->second ? std::optional<std::string>(*e.entry->second) : std::nullopt;
      return true;
    }
  }
  if (!dropped_since(key, 0)) return false;
  out = std::nullopt;
  return true;
}

// Files `e`, replacing the entry of the same key from an older batch.
void Window::place(const Indexed& e) {
  for (std::size_t i = e.hash & (index_.size() - 1);; i = (i + 1) & (index_.size() - 1)) {
    Indexed& at = index_[i];
    if (at.entry == nullptr) {
      at = e;
      ++index_used_;
      return;
    }
    if (at.hash == e.hash && at.entry->first == e.entry->first) {
      at = e;
      return;
    }
  }
}

void Window::grow() {
  std::vector<Indexed> old(std::max<std::size_t>(index_.size() * 2, std::size_t{1} << 14), Indexed{0, nullptr, 0});
  old.swap(index_);
  index_used_ = 0;
  for (const auto& e : old) {
    if (e.entry != nullptr) place(e);
  }
}

// Writes a window as one table file and hands it to RocksDB, on a thread of its own, a window
// at a time in the order given. Windows done with come back to it to be let go of.
class TableWriter {
 public:
  TableWriter(rocksdb::DB& db, std::string dir) : db_(db), dir_(std::move(dir)), options_(db.GetOptions()) {
    thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "apexloop:tables");  // (as top and perf show it)
      run();
    });
  }
  ~TableWriter() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  TableWriter(const TableWriter&) = delete;
  TableWriter& operator=(const TableWriter&) = delete;

  void start(std::shared_ptr<const Window> window) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(window));
    }
    changed_.notify_all();
  }
  // Lets go of a window (its maps and arenas) on this thread.
  void dispose(std::shared_ptr<const Window> window) {
    {
      std::lock_guard lock(mu_);
      done_with_.push_back(std::move(window));
    }
    changed_.notify_all();
  }
  // Windows RocksDB has so far.
  [[nodiscard]] std::size_t done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  // Waits until RocksDB has `n` windows in all: "" then, else what failed.
  std::string wait(std::size_t n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return done_ >= n || !error_.empty(); });
    return error_;
  }
  [[nodiscard]] double secs() {
    std::lock_guard lock(mu_);
    return secs_;
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      changed_.wait(lock, [&] { return closing_ || !queue_.empty() || !done_with_.empty(); });
      if (!done_with_.empty()) {
        auto gone = std::exchange(done_with_, {});
        lock.unlock();
        gone.clear();
        lock.lock();
        continue;
      }
      if (queue_.empty()) return;  // closing, and nothing left to write
      const std::shared_ptr<const Window> window = queue_.front();
      // After a window that failed, no later one may reach RocksDB: its offsets would claim the
      // lost one.
      const bool failed = !error_.empty();
      lock.unlock();
      const auto t = std::chrono::steady_clock::now();
      std::string error;
      try {
        if (!failed) write(*window);
      } catch (const std::exception& ex) {
        error = ex.what();
      }
      const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
      lock.lock();
      queue_.pop_front();
      secs_ += took;
      if (!error.empty() && error_.empty()) error_ = std::move(error);
      if (error_.empty()) ++done_;
      changed_.notify_all();
    }
  }

  void write(const Window& window) {
    if (window.empty()) return;
    std::vector<const Layer*> layers;
    for (const auto& l : window.layers()) layers.push_back(&l);
    const std::string path = dir_ + "/bulk-" + std::to_string(++files_) + ".sst";
    // Its pages stay in the page cache (by default the writer drops them as it goes): the
    // replay reads records back from the file, and the hash reads all of it.
    rocksdb::SstFileWriter file(rocksdb::EnvOptions(rocksdb::DBOptions(options_)), options_, nullptr,
                                /*invalidate_page_cache=*/false);
    auto check = [](const rocksdb::Status& s, const char* what) {
      if (!s.ok()) throw std::runtime_error(std::string("rocksdb table file ") + what + ": " + s.ToString());
    };
    check(file.Open(path), "open");
    // A dropped prefix is a range deletion over what came before the window. RocksDB gives a
    // file's range deletions and its writes one sequence number, and a deletion covers only
    // older writes: the writes the window made under the prefix after dropping it stay.
    std::vector<std::string_view> drops;
    window.dropped(drops);
    for (const auto p : drops) {
      const std::string end = prefix_end(p);
      if (end.empty()) throw std::logic_error("del_prefix past every key");
      check(file.DeleteRange(rocksdb::Slice(p.data(), p.size()), end), "range deletion");
    }
    merge_layers(layers, "", [&](std::string_view key, const Slot& v) {
      const rocksdb::Slice k(key.data(), key.size());
      check(v ? file.Put(k, rocksdb::Slice(v->data(), v->size())) : file.Delete(k), "write");
    });
    check(file.Finish(), "finish");
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;            // linked into the store, not copied
    ingest.allow_global_seqno = true;    // newer than everything before it
    ingest.allow_blocking_flush = true;  // rows written ahead may be in the memtable
    ingest.write_global_seqno = false;
    ingest.verify_checksums_before_ingest = false;
    check(db_.IngestExternalFile({path}, ingest), "ingest");
    std::error_code ec;
    std::filesystem::remove(path, ec);  // (RocksDB has its own link to it)
  }

  rocksdb::DB& db_;
  const std::string dir_;
  const rocksdb::Options options_;
  std::size_t files_ = 0;  // the writer thread's
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<const Window>> queue_;  // the first is being written
  std::vector<std::shared_ptr<const Window>> done_with_;
  std::size_t done_ = 0;
  double secs_ = 0;
  std::string error_;
  bool closing_ = false;
  std::thread thread_;  // last: it starts once the rest is set up
};

OwnTables::OwnTables(rocksdb::DB& db, const std::string& dir, std::size_t window_bytes)
    : window_bytes_(window_bytes),
      max_window_bytes_(4 * window_bytes),
      open_(std::make_shared<Window>()),
      writer_(std::make_unique<TableWriter>(db, dir)) {}

OwnTables::~OwnTables() = default;

bool OwnTables::answers(std::string_view key, std::optional<std::string>& out) const {
  if (!open_->empty() || !full_.empty()) {
    const std::uint64_t h = WrittenKeys::hash(key);
    if (open_->answers(key, h, out)) return true;
    for (auto w = full_.rbegin(); w != full_.rend(); ++w) {
      if ((*w)->answers(key, h, out)) return true;
    }
  }
  read_through_.fetch_add(1, std::memory_order_relaxed);  // (forks read at once)
  return false;
}

PendingRun OwnTables::run(std::string_view prefix) const {
  std::vector<const Layer*> layers;
  for (const auto& w : full_) {
    for (const auto& l : w->layers()) layers.push_back(&l);
  }
  for (const auto& l : open_->layers()) layers.push_back(&l);
  PendingRun out;
  merge_layers(layers, prefix, [&](std::string_view k, const Slot& v) { out.emplace_back(k, v); });
  return out;
}

void OwnTables::dropped(std::vector<std::string_view>& out) const {
  for (const auto& w : full_) w->dropped(out);
  open_->dropped(out);
}

std::expected<void, std::string> OwnTables::add(std::unique_ptr<const Pending> batch, WrittenKeys* written_keys) {
  open_->add(std::move(batch), hashes_, written_keys);
  if (open_->bytes() >= window_bytes_) {
    if (read_through_.exchange(0) * 4 >= open_->entries()) window_bytes_ = std::min(window_bytes_ * 2, max_window_bytes_);
    full_.push_back(std::exchange(open_, std::make_shared<Window>()));
    writer_->start(full_.back());
  }
  return settle(kFullWindows);
}

// Lets go of the windows RocksDB has, waiting until at most `waiting` of them are left.
std::expected<void, std::string> OwnTables::settle(std::size_t waiting) {
  if (auto error = writer_->wait(handed_ + full_.size() - std::min(waiting, full_.size())); !error.empty()) {
    return std::unexpected(error);
  }
  for (const std::size_t done = writer_->done(); handed_ < done; ++handed_) {
    writer_->dispose(std::move(full_.front()));
    full_.pop_front();
  }
  return {};
}

std::expected<void, std::string> OwnTables::finish() {
  if (!open_->empty()) {
    full_.push_back(std::exchange(open_, std::make_shared<Window>()));
    writer_->start(full_.back());
  }
  return settle(0);
}

double OwnTables::write_secs() const { return writer_->secs(); }

}  // namespace apexloop::projector
