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
#include <new>
#include <vector>

namespace apexloop::projector {
namespace {

using rocksdb::Slice;

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

// A node is its entry, with its links laid out just before it in the memtable's arena: the link
// at level i is the (i + 1)-th pointer-sized word before the entry. A link holds the next node's
// entry. Until the node is linked in, its level-0 link holds its height instead.
using Link = std::atomic<const char*>;

Link& link(const char* node, int level) {
  return *(reinterpret_cast<Link*>(const_cast<char*>(node)) - 1 - level);
}

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

  explicit SkipListRep(rocksdb::Allocator* allocator) : MemTableRep(allocator) {
    for (int i = 0; i < kMaxHeight; ++i) new (head_links_ + i) Link(nullptr);
    prev_.fill(head());
  }

  // Room for the node of an entry of `len` bytes, its height drawn now.
  rocksdb::KeyHandle Allocate(const std::size_t len, char** buf) override {
    const int height = random_height();
    char* raw = nullptr;
    MemTableRep::Allocate(sizeof(Link) * height + len + alignof(Link) - 1, &raw);  // the memtable's arena
    const auto aligned = (reinterpret_cast<std::uintptr_t>(raw) + alignof(Link) - 1) & ~(alignof(Link) - 1);
    char* node = reinterpret_cast<char*>(aligned) + sizeof(Link) * height;
    for (int i = 0; i < height; ++i) new (&link(node, i)) Link(nullptr);
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
    const int top = max_height_.load(std::memory_order_relaxed);
    // prev_ holds, level by level, where the last insert went in. Climb to the lowest level at
    // which it still brackets the key (level 0 when keys come in order), then search down from
    // there. The levels above keep their nodes: each lies at or before the one it climbed to,
    // and its next at that level is no nearer than that one's, so it brackets the key too.
    int level = 0;
    while (level < top && !brackets(prev_[level], level, key)) ++level;
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
  }

  // (RocksDB's default Get leaks the iterator it reads through.)
  void Get(const rocksdb::LookupKey& k, void* args, bool (*take)(void* args, const char* entry)) override {
    for (const char* n = seek(lookup_target(k)); n != nullptr && take(args, n); n = next(n)) {
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
  // The head is a node without an entry: its links are head_links_, read backwards from the end.
  const char* head() const { return reinterpret_cast<const char*>(head_links_ + kMaxHeight); }

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

  alignas(Link) std::byte head_links_storage_[sizeof(Link) * kMaxHeight];
  Link* const head_links_ = reinterpret_cast<Link*>(head_links_storage_);
  std::atomic<int> max_height_{1};
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
  const char* Name() const override { return "apexloop.OrderedMemtable"; }
  using MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& /*bytewise*/,
                                          rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                          rocksdb::Logger*) override {
    return new SkipListRep(allocator);
  }
  bool IsInsertConcurrentlySupported() const override { return false; }
};

}  // namespace

std::shared_ptr<rocksdb::MemTableRepFactory> ordered_memtable() { return std::make_shared<Factory>(); }

}  // namespace apexloop::projector
