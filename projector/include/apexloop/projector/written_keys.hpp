// Every key a store has written since it was opened empty, as a Bloom filter.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

namespace apexloop::projector {

// A bulk rebuild (a cold replay) mostly reads keys it has not written yet: is this record new,
// has this set a generation. RocksDB answers each such miss through every memtable's index and
// every table file's filter, which costs more than the rest of the read. A store opened empty knows
// that nothing it did not write exists, so this filter answers those reads alone: "surely never
// written" is final, "maybe" goes on to RocksDB as before.
//
// A split-block Bloom filter (one cache line a key, one bit in each of its eight words), in
// layers: each new layer has four times the room of the last, so it never needs the keys again
// to grow, and a rebuild of a few million keys reads one or two lines a lookup. 16 bits a key
// give ~0.5% false "maybe"s. Its memory is taken as the keys come (untouched pages cost
// nothing): ~2 bytes a key.
//
// Writers add under a lock (a batch's keys at once, their lines fetched ahead); readers never
// lock: a word is only ever read and stored whole, and a key is added before RocksDB has it.
class WrittenKeys {
 public:
  // Room for `first_capacity` keys at first (a multiple of 32); layers grow from there.
  explicit WrittenKeys(std::size_t first_capacity = std::size_t{4} << 20);
  ~WrittenKeys();
  WrittenKeys(const WrittenKeys&) = delete;
  WrittenKeys& operator=(const WrittenKeys&) = delete;

  // The memtable's (memtable_hash): a batch's keys are hashed once for both.
  static std::uint64_t hash(std::string_view key);

  // Adds keys by their hash(), one lock for all of them.
  void add(std::span<const std::uint64_t> hashes);
  void add(std::string_view key) {
    const std::uint64_t h = hash(key);
    add(std::span(&h, 1));
  }

  // False: the key was surely never added. True: it may have been.
  [[nodiscard]] bool may_contain(std::string_view key) const;

  [[nodiscard]] std::size_t bytes() const;

 private:
  struct Layer;
  static constexpr int kMaxLayers = 16;

  std::mutex grow_;
  std::array<std::atomic<Layer*>, kMaxLayers> layers_{};
  std::atomic<int> used_{0};
  std::vector<std::unique_ptr<Layer>> owned_;  // under grow_
};

}  // namespace apexloop::projector
