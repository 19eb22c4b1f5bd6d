#include "apexloop/projector/memtable.hpp"

#include <rocksdb/slice.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apexloop::projector {
namespace {

using rocksdb::Slice;

// A store's entries take ~300 bytes of a memtable each, and a record's rows in the principal
// sets (most of its entries with a policy) stay out of the index: about one indexed entry a
// bucket. (The buckets take ~1.5% of the memtable, the nodes' chain words ~2.5%.)
constexpr std::size_t kBytesPerBucket = 512;

static_assert(std::endian::native == std::endian::little, "RocksDB's fixed-width integers are read in place");

// An entry as RocksDB lays it out in the memtable: its internal key's length (varint32), the
// internal key (the user key, then 8 bytes of sequence number and type), then the value.
Slice internal_key(const char* entry) {
  const auto* p = reinterpret_cast<const unsigned char*>(entry);
  std::uint32_t len = 0;
  for (int shift = 0;; shift += 7) {
    const std::uint32_t b = *p++;
    len |= (b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  return {reinterpret_cast<const char*>(p), len};
}

// Internal keys in RocksDB's order: user keys byte by byte, then the newest (the larger
// sequence number and type) first.
int compare(const Slice& a, const Slice& b) {
  const std::size_t ua = a.size() - 8, ub = b.size() - 8;
  if (const int c = std::memcmp(a.data(), b.data(), std::min(ua, ub)); c != 0) return c;
  if (ua != ub) return ua < ub ? -1 : 1;
  std::uint64_t ta = 0, tb = 0;
  std::memcpy(&ta, a.data() + ua, 8);
  std::memcpy(&tb, b.data() + ub, 8);
  return ta > tb ? -1 : ta < tb ? 1 : 0;
}

// The internal key a point read looks for. RocksDB hands Get() a LookupKey, whose accessors are
// in a header it does not install; its layout has stayed the same since LevelDB: three pointers
// (to the memtable key, the internal key within it, and the end), then inline space. It is read
// so, and checked: the memtable key must be a length that spans exactly the internal key.
Slice lookup_target(const rocksdb::LookupKey& k) {
  struct Layout {
    const char* start;
    const char* kstart;
    const char* end;
  } l{};
  std::memcpy(&l, static_cast<const void*>(&k), sizeof l);
  const Slice key = internal_key(l.start);
  if (key.data() != l.kstart || key.data() + key.size() != l.end) {
    std::fputs("apexloop memtable: this RocksDB lays out LookupKey differently\n", stderr);
    std::abort();
  }
  return key;
}

// A node is its entry, with two kinds of links laid out just before it in the memtable's arena.
// The word right before the entry chains the node into its hash bucket (see Chained). Before
// that come the skip list's links: the link at level i is the (i + 2)-th pointer-sized word
// before the entry, and holds the next node's entry. Until the node is linked in, its level-0
// link holds its height instead.
using Link = std::atomic<const char*>;

Link& link(const char* node, int level) {
  return *(reinterpret_cast<Link*>(const_cast<char*>(node)) - 2 - level);
}

// A bucket's first node, or a node's next in its bucket, with the top 16 bits of the node's
// hash beside the pointer (user-space addresses fit in 48 bits): a lookup passes over the
// other keys of its bucket without reading their entries.
using Chained = std::atomic<std::uintptr_t>;
static_assert(alignof(Chained) == alignof(Link), "chains and links share the arena's alignment");
constexpr int kTagShift = 48;
constexpr std::uintptr_t kPointerBits = (std::uintptr_t{1} << kTagShift) - 1;

Chained& chain(const char* node) { return *(reinterpret_cast<Chained*>(const_cast<char*>(node)) - 1); }
std::uintptr_t chained(const char* node, std::uint64_t hash) {
  const auto at = reinterpret_cast<std::uintptr_t>(node);
  if ((at & ~kPointerBits) != 0) {  // (Linux maps nothing there unless asked to)
    std::fputs("apexloop memtable: a node lies above 2^48, where its hash tag would go\n", stderr);
    std::abort();
  }
  return at | (static_cast<std::uintptr_t>(hash >> kTagShift) << kTagShift);
}
const char* node_of(std::uintptr_t c) { return reinterpret_cast<const char*>(c & kPointerBits); }
bool tag_matches(std::uintptr_t c, std::uint64_t hash) { return (c >> kTagShift) == (hash >> kTagShift); }

Slice user_key(const Slice& internal) { return {internal.data(), internal.size() - 8}; }
std::uint64_t hash_of(const Slice& user) { return memtable_hash(std::string_view(user.data(), user.size())); }

// The hashes of the keys this thread is about to insert (memtable_insert_hints), and how many
// have gone in.
struct InsertHints {
  std::span<const std::uint64_t> hashes;
  std::size_t next = 0;
};
thread_local InsertHints insert_hints;
constexpr std::size_t kHintsAhead = 8;  // buckets fetched this many inserts ahead

// RocksDB destroys an iterator it asked to have placed in an arena but never frees it (an
// arena goes all at once). Ours are placed in blocks kept per thread instead: a block goes back
// to the thread that destroys its iterator, and is reused or freed only later on that thread,
// once that destruction has surely ended. (An iterator destroyed after its thread's blocks are
// gone, at thread exit, is left to the process's end.)
class IterBlocks {
 public:
  ~IterBlocks();
  void* take(std::size_t size) {
    if (free_.empty()) return ::operator new(size);
    void* p = free_.back();
    free_.pop_back();
    return p;
  }
  // Called from the destructor of the iterator in `p`: every block given back before it is
  // done with, `p` not yet.
  void give_back(void* p) {
    if (free_.size() >= kKeep) {
      ::operator delete(free_.back());
      free_.pop_back();
    }
    free_.push_back(p);
  }

 private:
  static constexpr std::size_t kKeep = 16;
  std::vector<void*> free_;
};

thread_local IterBlocks iter_blocks;
thread_local bool iter_blocks_gone = false;  // trivially destroyed: readable to the thread's end

IterBlocks::~IterBlocks() {
  for (void* p : free_) ::operator delete(p);
  iter_blocks_gone = true;
}
void* take_iter_block(std::size_t size) { return iter_blocks_gone ? ::operator new(size) : iter_blocks.take(size); }
void give_back_iter_block(void* p) {
  if (!iter_blocks_gone) iter_blocks.give_back(p);
}

class SkipListRep;

class Iter final : public rocksdb::MemTableRep::Iterator {
 public:
  Iter(const SkipListRep& list, bool pooled) : list_(list), pooled_(pooled) {}
  ~Iter() override;
  bool Valid() const override { return node_ != nullptr; }
  const char* key() const override { return node_; }
  void Next() override;
  void Prev() override;
  void Seek(const Slice& target, const char* /*encoded*/) override;
  void SeekForPrev(const Slice& target, const char* /*encoded*/) override;
  void SeekToFirst() override;
  void SeekToLast() override;

 private:
  const SkipListRep& list_;
  const bool pooled_;
  const char* node_ = nullptr;
};

class SkipListRep final : public rocksdb::MemTableRep {
 public:
  static constexpr int kMaxHeight = 16;

  // `buckets`: a power of two.
  SkipListRep(rocksdb::Allocator* allocator, std::size_t buckets, const std::string& unindexed)
      : MemTableRep(allocator), mask_(buckets - 1), unindexed_(unindexed.data(), unindexed.size()) {
    for (int i = 0; i < kMaxHeight; ++i) new (head_links_ + i) Link(nullptr);
    prev_.fill(head());
    buckets_ = reinterpret_cast<Chained*>(arena(sizeof(Chained) * buckets));  // counted in the memtable's size
    for (std::size_t i = 0; i < buckets; ++i) new (buckets_ + i) Chained(0);
  }

  // Room for the node of an entry of `len` bytes, its height drawn now.
  rocksdb::KeyHandle Allocate(const std::size_t len, char** buf) override {
    const int height = random_height();
    const std::size_t words = static_cast<std::size_t>(height) + 1;  // its links and its chain
    char* node = arena(sizeof(Link) * words + len) + sizeof(Link) * words;
    for (int i = 0; i < height; ++i) new (&link(node, i)) Link(nullptr);
    new (&chain(node)) Chained(0);
    link(node, 0).store(reinterpret_cast<const char*>(static_cast<std::uintptr_t>(height)), std::memory_order_relaxed);
    *buf = node;
    return node;
  }

  // One writer at a time (RocksDB's, with concurrent memtable writes off). Readers never wait:
  // a node's links are set before the release store that makes it reachable.
  void Insert(rocksdb::KeyHandle handle) override {
    const char* x = static_cast<const char*>(handle);
    const int height = static_cast<int>(reinterpret_cast<std::uintptr_t>(link(x, 0).load(std::memory_order_relaxed)));
    const Slice key = internal_key(x);
    const Slice user = user_key(key);
    const bool indexed = this->indexed(user);
    const std::uint64_t hash = indexed ? hash_of(user) : 0;
    Chained* const bucket = indexed ? &buckets_[hash & mask_] : nullptr;
    if (indexed) __builtin_prefetch(bucket, 1);  // on its way while the list is searched
    fetch_ahead(indexed, hash);
    const int top = max_height_.load(std::memory_order_relaxed);
    // prev_ holds, level by level, where the last insert went in. Find the lowest level at which
    // it still brackets the key (level 0 when keys come in order; `top` when none does), then
    // search down from there. The levels above keep their nodes: each lies at or before the one
    // below it, and its next at that level is no nearer than that one's, so it brackets the key
    // too. That makes the levels that bracket a run up to the top: after level 0, the lowest is
    // found by halving (a key far from the last costs ~4 checks, not one per level).
    int level = 0;
    if (top > 0 && !brackets(prev_[0], 0, key)) {
      int lo = 1, hi = top;  // the lowest level that brackets is in [lo, hi]
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (brackets(prev_[mid], mid, key)) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      level = lo;
    }
    const char* p = level < top ? prev_[level] : head();
    for (int i = std::min(level, top) - 1; i >= 0; --i) {
      for (const char* next = link(p, i).load(std::memory_order_relaxed);
           next != nullptr && compare(internal_key(next), key) < 0; next = link(p, i).load(std::memory_order_relaxed)) {
        p = next;
      }
      prev_[i] = p;
    }
    if (height > top) {
      for (int i = top; i < height; ++i) prev_[i] = head();
      // Readers that see the new height before the head's new links find them empty: fine.
      max_height_.store(height, std::memory_order_relaxed);
    }
    for (int i = 0; i < height; ++i) {
      link(x, i).store(link(prev_[i], i).load(std::memory_order_relaxed), std::memory_order_relaxed);
      link(prev_[i], i).store(x, std::memory_order_release);
      prev_[i] = x;
    }
    // Into its bucket only once it is in the list: a node found by its hash is in the list too.
    if (indexed) {
      chain(x).store(bucket->load(std::memory_order_relaxed), std::memory_order_relaxed);
      bucket->store(chained(x, hash), std::memory_order_release);
    }
  }

  // A point read, as a seek to `k` would answer it, without the seek. Its key's versions lie
  // together in the list, newest first, and the version found through the hash is the newest
  // there is to find: a newer one may be going in right now, but this read cannot see it (RocksDB
  // publishes a write's sequence number only after the write is in the memtable). So the read
  // starts there and steps past the versions newer than it looks for. No version here: nothing
  // to hand RocksDB (a seek would land on another key, which RocksDB would pass over). A key left
  // out of the index is found by a seek. (RocksDB's default Get leaks the iterator it reads
  // through.)
  void Get(const rocksdb::LookupKey& k, void* args, bool (*take)(void* args, const char* entry)) override {
    const Slice key = lookup_target(k);
    const Slice user = user_key(key);
    const char* n = nullptr;
    if (indexed(user)) {
      n = newest(user);
      while (n != nullptr && compare(internal_key(n), key) < 0) n = next(n);
    } else {
      n = seek(key);
    }
    for (; n != nullptr && take(args, n); n = next(n)) {
    }
  }

  bool Contains(const char* entry) const override {
    const Slice key = internal_key(entry);
    const char* n = seek(key);
    return n != nullptr && compare(internal_key(n), key) == 0;
  }

  std::size_t ApproximateMemoryUsage() override { return 0; }  // every node is in the arena

  Iterator* GetIterator(rocksdb::Arena* arena) override {
    if (arena == nullptr) return new Iter(*this, false);
    return new (take_iter_block(sizeof(Iter))) Iter(*this, true);
  }

  // The first node at or after `key`, or null. Going down a level, the node that ended the level
  // above is not compared again.
  const char* seek(const Slice& key) const {
    const char* p = head();
    const char* bigger = nullptr;  // the node known to be at or after the key
    for (int level = max_height_.load(std::memory_order_relaxed) - 1;;) {
      const char* next = link(p, level).load(std::memory_order_acquire);
      const int order = next == nullptr || next == bigger ? 1 : compare(internal_key(next), key);
      if (order < 0) {
        p = next;
      } else if (order == 0 || level == 0) {
        return next;
      } else {
        bigger = next;
        --level;
      }
    }
  }
  // The last node before `key`, or null.
  const char* before(const Slice& key) const {
    const char* p = head();
    const char* bigger = nullptr;
    for (int level = max_height_.load(std::memory_order_relaxed) - 1;;) {
      const char* next = link(p, level).load(std::memory_order_acquire);
      if (next != nullptr && next != bigger && compare(internal_key(next), key) < 0) {
        p = next;
      } else if (level == 0) {
        return p == head() ? nullptr : p;
      } else {
        bigger = next;
        --level;
      }
    }
  }
  const char* last() const {
    const char* p = head();
    for (int level = max_height_.load(std::memory_order_relaxed) - 1; level >= 0; --level) {
      for (const char* next = link(p, level).load(std::memory_order_acquire); next != nullptr;
           next = link(p, level).load(std::memory_order_acquire)) {
        p = next;
      }
    }
    return p == head() ? nullptr : p;
  }
  const char* first() const { return link(head(), 0).load(std::memory_order_acquire); }
  static const char* next(const char* node) { return link(node, 0).load(std::memory_order_acquire); }

 private:
  // The head is a node without an entry: its links are head_links_, read backwards from the end
  // (less the chain word a node has before its entry: the head is in no bucket).
  const char* head() const { return reinterpret_cast<const char*>(head_links_ + kMaxHeight + 1); }

  // The newest node of the user key `user`, or null when the key is not here.
  const char* newest(const Slice& user) const {
    const std::uint64_t hash = hash_of(user);
    for (std::uintptr_t c = buckets_[hash & mask_].load(std::memory_order_acquire); c != 0;
         c = chain(node_of(c)).load(std::memory_order_acquire)) {
      if (!tag_matches(c, hash)) continue;
      const char* n = node_of(c);
      if (user_key(internal_key(n)) == user) return n;
    }
    return nullptr;
  }

  // A bucket is a cache miss, and an insert in key order is over before it could arrive: with
  // the hashes of the keys to come (memtable_insert_hints), the buckets of those a few inserts
  // ahead are fetched now. Hints that stop matching the keys that come are dropped.
  // (A key left out of the index is not hashed: it takes its hint on trust, and the next
  // indexed key checks that the hints are still in step.)
  void fetch_ahead(bool indexed, std::uint64_t hash) const {
    InsertHints& h = insert_hints;
    if (h.next >= h.hashes.size()) return;
    if (indexed && h.hashes[h.next] != hash) {
      h = {};
      return;
    }
    const std::size_t from = h.next == 0 ? 1 : h.next + kHintsAhead;  // the first insert starts the run
    const std::size_t to = std::min(h.next + kHintsAhead + 1, h.hashes.size());
    for (std::size_t i = from; i < to; ++i) __builtin_prefetch(&buckets_[h.hashes[i] & mask_], 1);
    ++h.next;
  }

  // `bytes` from the memtable's arena, aligned for the links and chains laid out there.
  char* arena(std::size_t bytes) {
    char* raw = nullptr;
    MemTableRep::Allocate(bytes + alignof(Link) - 1, &raw);
    return reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + alignof(Link) - 1) & ~(alignof(Link) - 1));
  }

  bool indexed(const Slice& user) const { return unindexed_.empty() || !user.starts_with(unindexed_); }

  bool brackets(const char* p, int level, const Slice& key) const {
    if (p != head() && compare(internal_key(p), key) >= 0) return false;
    const char* next = link(p, level).load(std::memory_order_relaxed);
    return next == nullptr || compare(key, internal_key(next)) < 0;
  }

  // 1 + the number of 1-in-4 draws in a row that come out true, as in RocksDB's own lists.
  int random_height() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const int run = std::countr_zero(rng_ | (std::uint64_t{1} << 62)) / 2;
    return std::min(1 + run, kMaxHeight);
  }

  alignas(Link) std::byte head_links_storage_[sizeof(Link) * (kMaxHeight + 1)];
  Link* const head_links_ = reinterpret_cast<Link*>(head_links_storage_);
  std::atomic<int> max_height_{1};
  // Every node, by the hash of its user key: buckets_[hash & mask_] and on through chain().
  const std::size_t mask_;
  Chained* buckets_ = nullptr;
  const Slice unindexed_;  // keys under it are not in the index (the factory's string)
  // Writer-only state.
  std::array<const char*, kMaxHeight> prev_{};
  std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;
};

Iter::~Iter() {
  if (pooled_) give_back_iter_block(this);
}
void Iter::Next() { node_ = SkipListRep::next(node_); }
void Iter::Prev() { node_ = list_.before(internal_key(node_)); }
void Iter::Seek(const Slice& target, const char*) { node_ = list_.seek(target); }
void Iter::SeekForPrev(const Slice& target, const char*) {
  const char* n = list_.seek(target);
  node_ = n != nullptr && compare(internal_key(n), target) == 0 ? n : list_.before(target);
}
void Iter::SeekToFirst() { node_ = list_.first(); }
void Iter::SeekToLast() { node_ = list_.last(); }

class Factory final : public rocksdb::MemTableRepFactory {
 public:
  Factory(std::size_t buckets, std::string_view unindexed) : buckets_(buckets), unindexed_(unindexed) {}
  const char* Name() const override { return "apexloop.OrderedMemtable"; }
  using MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& /*bytewise*/,
                                          rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                          rocksdb::Logger*) override {
    return new SkipListRep(allocator, buckets_, unindexed_);
  }
  bool IsInsertConcurrentlySupported() const override { return false; }

 private:
  const std::size_t buckets_;
  const std::string unindexed_;  // outlives every memtable: RocksDB keeps its factory as long
};

}  // namespace

std::uint64_t memtable_hash(std::string_view user_key) { return std::hash<std::string_view>{}(user_key); }

void memtable_insert_hints(std::span<const std::uint64_t> hashes) { insert_hints = {hashes, 0}; }

std::shared_ptr<rocksdb::MemTableRepFactory> ordered_memtable(std::size_t write_buffer_bytes, std::string_view unindexed) {
  return std::make_shared<Factory>(std::bit_ceil(std::max<std::size_t>(write_buffer_bytes / kBytesPerBucket, 1024)),
                                   unindexed);
}

}  // namespace apexloop::projector
