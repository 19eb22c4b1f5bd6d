#pragma once
// When a record last changed, as one reader sees it (issue 5; ACCESS.md: an edit to an internal
// column leaks "no updated_at ... beyond what the policy shows").
//
// A record keeps, per field changed after its creation (set, changed or cleared), the stamp of
// the event that last changed it: the record version that event made and its time. A reader
// that may read some columns is shown the record's `version` and `updated_at` as of the last
// change to one of those columns, or its creation (version 1, created_at) when none changed
// since. Internal users read every column, so they see the real version and updated_at.
//
// The command service (If-Match, its answers) and the projector (served bytes, view rows, sort
// keys, filters on system fields) both decide with `last_visible_change`, so what a contact
// reads and what it must send back can never disagree.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/core/clock.hpp"

namespace apexloop {

struct Stamp {
  std::uint64_t version = 1;
  TimestampMs at;
  friend bool operator==(const Stamp&, const Stamp&) = default;
};

struct FieldStamp {
  std::string field;
  Stamp stamp;
  friend bool operator==(const FieldStamp&, const FieldStamp&) = default;
};

// Sorted by field, one entry per field; fields untouched since the record's creation have none
// (their stamp is the creation's), so a record never edited costs nothing.
using FieldStamps = std::vector<FieldStamp>;

// Records that the event `stamp` changed `field`.
inline void restamp(FieldStamps& stamps, std::string_view field, Stamp stamp) {
  auto it = std::lower_bound(stamps.begin(), stamps.end(), field,
                             [](const FieldStamp& f, std::string_view k) { return f.field < k; });
  if (it != stamps.end() && it->field == field) {
    it->stamp = stamp;
  } else {
    stamps.insert(it, FieldStamp{std::string(field), stamp});
  }
}

// The last change a reader of the columns `readable(key)` accepts can see: the readable field
// with the highest stamp, or nullptr when none changed since the record was created (the reader
// then sees version 1 and created_at).
template <typename Readable>
[[nodiscard]] const FieldStamp* last_visible_change(const FieldStamps& stamps, Readable&& readable) {
  const FieldStamp* out = nullptr;
  for (const auto& f : stamps) {
    if ((out == nullptr || f.stamp.version > out->stamp.version) && readable(std::string_view(f.field))) out = &f;
  }
  return out;
}

}  // namespace apexloop
