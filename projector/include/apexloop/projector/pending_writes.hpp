// A batch's writes before RocksDB has them, and what the store's views do with them: shared by
// the store (store.cpp), a rebuild's own table files (own_tables.hpp) and their tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apexloop::projector {

using Slot = std::optional<std::string_view>;  // a value, or nullopt for a deletion
using PendingRun = std::vector<std::pair<std::string_view, Slot>>;

// Whether `key` lies under any of `prefixes`.
inline bool under_any(const std::vector<std::string_view>& prefixes, std::string_view key) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](std::string_view p) { return key.starts_with(p); });
}

// No single key ends in '/': only a dropped prefix does, so the two are never mistaken.
inline void require_key(std::string_view key) {
  if (key.empty() || key.back() == '/') throw std::logic_error("not a key: " + std::string(key));
}

// The writes of a batch not yet in RocksDB, in key order. Keys and values are copied into an
// arena that lives as long as the map: a batch allocates a few big blocks, not three small ones
// per write, and views into it stay valid while later writes come in.
struct PendingWrites {
  using Map = std::pmr::map<std::string_view, Slot, std::less<>>;
  std::pmr::monotonic_buffer_resource arena{std::size_t{1} << 16};
  Map entries{&arena};
  std::vector<std::unique_ptr<PendingWrites>> adopted;  // joined forks: their arenas hold some entries
  // Per family of keys ("rc/", "ro/", "pv/", "his", ...: a key's first three bytes; a handful per
  // batch): the entry written last (see slot()), and the greatest key ever written. A key past
  // that, or of a family never written, is not here: most reads of a key that does not exist yet
  // (is this record new?) skip the map.
  struct Family {
    std::uint32_t tag;
    Map::iterator last;
    std::string_view max;  // (entries only go: a bound that stays true)
  };
  std::vector<Family> families;
  // Prefixes dropped whole (KvView::del_prefix): nothing under them is left in the layers below
  // this one (earlier batches, the store). What was written under them since is in `entries`.
  std::vector<std::string_view> dropped;

  bool dropped_in(std::string_view key) const { return under_any(dropped, key); }
  static std::uint32_t tag_of(std::string_view key) {
    std::uint32_t tag = 0;
    std::memcpy(&tag, key.data(), std::min<std::size_t>(key.size(), 3));
    return tag;
  }
  Family& family_of(std::string_view key) {
    const auto tag = tag_of(key);
    for (auto& f : families) {
      if (f.tag == tag) return f;
    }
    return families.emplace_back(Family{tag, entries.end(), {}});
  }
  // Whether `key` may have an entry here (false: it surely has none).
  bool may_hold(std::string_view key) const {
    const auto tag = tag_of(key);
    for (const auto& f : families) {
      if (f.tag == tag) return key <= f.max;
    }
    return false;
  }
  // What this layer says of `key`: true and `out` set (a value, or nullopt for a deletion or a
  // dropped prefix over it), or false when the layers below must answer.
  bool answers(std::string_view key, std::optional<std::string>& out) const {
    if (may_hold(key)) {
      if (auto it = entries.find(key); it != entries.end()) {
        out = it->second ? std::optional<std::string>(*it->second) : std::nullopt;
        return true;
      }
    }
    if (!dropped_in(key)) return false;
    out = std::nullopt;
    return true;
  }
  std::string_view copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = static_cast<char*>(arena.allocate(s.size(), 1));
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }
};

using Pending = PendingWrites;

// The pending entry for `key`, made if missing (its key copied into the arena unless `owned`
// already lives as long).
Slot& slot(Pending& pending, std::string_view key, bool owned = false);
void put(Pending& pending, std::string_view key, std::string_view value);
// Every key under `prefix` gone: this layer's own entries now, the layers below when read
// through this one, and the store when the batch is written (one range deletion).
void drop_prefix(Pending& pending, std::string_view prefix);
// The first key past every key with `prefix` ("" when there is none: all 0xff).
std::string prefix_end(std::string_view prefix);
// `over`'s entries under `prefix` laid over `under` (both in key order): `over` wins, and what
// `over` dropped is gone from `under`.
PendingRun overlay(const Pending& over, std::string_view prefix, PendingRun under = {});

}  // namespace apexloop::projector
