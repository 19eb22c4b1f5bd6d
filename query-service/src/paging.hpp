#pragma once
// One page of a key range: every list the query service answers is a run of stored values under
// a prefix, taken in key order from a start key.

#include <rocksdb/db.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace apexloop::query {

struct PageEnd {
  std::size_t count = 0;                  // values appended
  std::optional<std::string> more_after;  // when more follow: the last key, without the prefix
};

// Appends to `out`, comma-separated, the values of up to `limit` keys under `prefix`, from
// `start` (itself under `prefix`) on.
inline PageEnd append_page(rocksdb::DB& db, const std::string& prefix, const std::string& start, std::size_t limit,
                           std::string& out) {
  PageEnd end;
  std::string last;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (end.count == limit) {
      end.more_after = std::move(last);
      break;
    }
    if (end.count++ > 0) out.push_back(',');
    out.append(it->value().data(), it->value().size());
    last = it->key().ToString().substr(prefix.size());
  }
  return end;
}

}  // namespace apexloop::query
