#include "apexloop/projector/written_keys.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "apexloop/projector/memtable.hpp"

namespace apexloop::projector {
namespace {

// Odd constants (the split-block filter's usual ones): multiplied by the key's hash, each picks
// one bit of a word from the product's top six bits.
constexpr std::array<std::uint32_t, 8> kSalts = {0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
                                                 0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U};
constexpr std::size_t kKeysPerBlock = 32;                     // 512 bits a block: 16 a key
constexpr std::size_t kWordsPerBlock = 8;
constexpr std::size_t kLine = 64;
constexpr std::size_t kAhead = 8;  // lines fetched ahead of the key being added

std::uint64_t bit(std::uint64_t h, std::size_t word) {
  return std::uint64_t{1} << ((static_cast<std::uint32_t>(h) * kSalts[word]) >> 26);
}

}  // namespace

struct WrittenKeys::Layer {
  explicit Layer(std::size_t capacity) : capacity(capacity), blocks(capacity / kKeysPerBlock) {
    // calloc: a big block comes freshly mapped, zero without being written, so pages are only
    // taken as keys land on them.
    raw = std::calloc(blocks * kWordsPerBlock * sizeof(std::uint64_t) + kLine, 1);
    if (raw == nullptr) throw std::bad_alloc();
    const auto at = (reinterpret_cast<std::uintptr_t>(raw) + kLine - 1) & ~(kLine - 1);
    words = reinterpret_cast<std::uint64_t*>(at);
  }
  ~Layer() { std::free(raw); }
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  std::uint64_t* block(std::uint64_t h) const {
    return words + static_cast<std::size_t>((static_cast<unsigned __int128>(h) * blocks) >> 64) * kWordsPerBlock;
  }
  static bool test(const std::uint64_t* b, std::uint64_t h) {
    for (std::size_t i = 0; i < kWordsPerBlock; ++i) {
      if ((std::atomic_ref(const_cast<std::uint64_t&>(b[i])).load(std::memory_order_relaxed) & bit(h, i)) == 0) {
        return false;
      }
    }
    return true;
  }
  // Under the writers' lock: a word is read and stored whole, never half-written for a reader.
  static void set(std::uint64_t* b, std::uint64_t h) {
    for (std::size_t i = 0; i < kWordsPerBlock; ++i) {
      std::atomic_ref w(b[i]);
      w.store(w.load(std::memory_order_relaxed) | bit(h, i), std::memory_order_relaxed);
    }
  }

  const std::size_t capacity;
  const std::size_t blocks;
  void* raw = nullptr;
  std::uint64_t* words = nullptr;  // `blocks` lines of kWordsPerBlock words
  std::size_t count = 0;           // under the writers' lock
};

WrittenKeys::WrittenKeys(std::size_t first_capacity) {
  owned_.push_back(std::make_unique<Layer>(std::max(first_capacity, kKeysPerBlock)));
  layers_[0].store(owned_.back().get(), std::memory_order_release);
  used_.store(1, std::memory_order_release);
}

WrittenKeys::~WrittenKeys() = default;

std::uint64_t WrittenKeys::hash(std::string_view key) { return memtable_hash(key); }

void WrittenKeys::add(std::span<const std::uint64_t> hashes) {
  std::lock_guard lock(grow_);
  std::size_t done = 0;
  while (done < hashes.size()) {
    Layer* top = owned_.back().get();
    if (top->count >= top->capacity && static_cast<int>(owned_.size()) < kMaxLayers) {
      owned_.push_back(std::make_unique<Layer>(top->capacity * 4));  // (a multiple of kKeysPerBlock still)
      top = owned_.back().get();
      layers_[owned_.size() - 1].store(top, std::memory_order_release);
      used_.store(static_cast<int>(owned_.size()), std::memory_order_release);
    }
    // As many as the top layer has room for (all of them once it is the last one there is).
    const std::size_t room = top->count < top->capacity ? top->capacity - top->count : hashes.size() - done;
    const auto part = hashes.subspan(done, std::min(room, hashes.size() - done));
    // Each key's line is far from the last one's: fetch a few ahead so that the misses overlap.
    for (std::size_t i = 0; i < std::min(kAhead, part.size()); ++i) __builtin_prefetch(top->block(part[i]), 1);
    for (std::size_t i = 0; i < part.size(); ++i) {
      if (i + kAhead < part.size()) __builtin_prefetch(top->block(part[i + kAhead]), 1);
      Layer::set(top->block(part[i]), part[i]);
    }
    top->count += part.size();
    done += part.size();
  }
}

bool WrittenKeys::may_contain(std::string_view key) const {
  const std::uint64_t h = hash(key);
  const int used = used_.load(std::memory_order_acquire);
  std::array<const std::uint64_t*, kMaxLayers> lines{};
  for (int i = 0; i < used; ++i) {  // every layer's line on its way at once
    lines[i] = layers_[i].load(std::memory_order_acquire)->block(h);
    __builtin_prefetch(lines[i]);
  }
  for (int i = used - 1; i >= 0; --i) {
    if (Layer::test(lines[i], h)) return true;
  }
  return false;
}

std::size_t WrittenKeys::bytes() const {
  std::size_t n = 0;
  const int used = used_.load(std::memory_order_acquire);
  for (int i = 0; i < used; ++i) n += layers_[i].load(std::memory_order_acquire)->blocks * kLine;
  return n;
}

}  // namespace apexloop::projector
