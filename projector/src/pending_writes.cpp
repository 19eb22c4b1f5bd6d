#include "apexloop/projector/pending_writes.hpp"

namespace apexloop::projector {

// Writes mostly come in key order within a family of keys (a set's list, its views; one
// record's keys after the last record's), so the entry right after the one written last in the
// key's family is tried before searching the map.
Slot& slot(Pending& pending, std::string_view key, bool owned) {
  require_key(key);
  auto& map = pending.entries;
  auto& family = pending.family_of(key);
  auto& last = family.last;
  auto make = [&](Pending::Map::iterator hint) {
    return map.emplace_hint(hint, owned ? key : pending.copy(key), Slot());
  };
  if (last != map.end() && last->first < key) {
    auto next = std::next(last);
    if (next == map.end() || key < next->first) {
      last = make(next);
      if (family.max < last->first) family.max = last->first;
      return last->second;
    }
  }
  auto it = map.lower_bound(key);
  if (it == map.end() || it->first != key) it = make(it);
  last = it;
  if (family.max < it->first) family.max = it->first;
  return it->second;
}

void put(Pending& pending, std::string_view key, std::string_view value) {
  Slot& s = slot(pending, key);
  s = pending.copy(value);
}

void drop_prefix(Pending& pending, std::string_view prefix) {
  if (prefix.empty() || prefix.back() != '/') throw std::logic_error("not a prefix: " + std::string(prefix));
  auto& map = pending.entries;
  auto first = map.lower_bound(prefix), last = first;
  while (last != map.end() && last->first.starts_with(prefix)) ++last;
  if (first != last) {
    map.erase(first, last);
    for (auto& f : pending.families) f.last = map.end();
  }
  if (!pending.dropped_in(prefix)) pending.dropped.push_back(pending.copy(prefix));
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

PendingRun overlay(const Pending& over, std::string_view prefix, PendingRun under) {
  if (!over.dropped.empty()) std::erase_if(under, [&](const auto& e) { return over.dropped_in(e.first); });
  PendingRun out;
  auto u = under.begin();
  for (auto o = over.entries.lower_bound(prefix); o != over.entries.end() && o->first.starts_with(prefix); ++o) {
    for (; u != under.end() && u->first < o->first; ++u) out.push_back(std::move(*u));
    if (u != under.end() && u->first == o->first) ++u;
    out.emplace_back(o->first, o->second);
  }
  for (; u != under.end(); ++u) out.push_back(std::move(*u));
  return out;
}

}  // namespace apexloop::projector
