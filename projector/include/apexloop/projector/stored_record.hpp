#pragma once
// A record as the projector keeps it: its system fields and each field's value already written
// as JSON text. Re-projecting a record into a principal set then cuts and joins bytes, and only
// the few fields a filter names are ever parsed.
//
// Encoding (values are binary-safe): "R2", then u32 little-endian length + bytes for id,
// created_at, updated_at and order, a u64 version, a u32 field count, and for each field in
// key order its key and its JSON text, each length-prefixed; then a u32 stamp count and for each
// field changed since creation, in key order, its key (length-prefixed), the u64 version and
// the i64 time (ms) of the event that last changed it (apexloop/core/stamps.hpp).
//
// "R3" is "R2" followed by the record's Creation (below): actor kind, actor id, event id,
// position and owner column key, each length-prefixed, then the u64 seq.
//
// "R1" (the same without the stamps) is still read, from read models written before the
// stamps: each field it holds is taken as changed by the record's last event, so a contact is
// shown the real version and updated_at of such a record, as it was before, until a later edit
// restamps what it changes. Such read models differ from a clean replay of the log (contacts
// are shown their visible versions there, and the command service compares a contact's
// If-Match with that), so rebuild them once: `deploy/replay.sh --into DIR` (README).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apexloop/core/json.hpp"
#include "apexloop/core/stamps.hpp"

namespace apexloop::projector {

// The event that created a record, kept in the record until its first change. Until then the
// record's fields are exactly the fields that event gave, so its history entry can be written
// from the two at any time (history.hpp): a record only created costs one key fewer.
struct Creation {
  std::string actor_kind, actor_id, event_id;
  std::string position;   // to_string(Position) of the event
  std::string owner_key;  // the owner column then ("" for none)
  std::uint64_t seq = 0;
  bool operator==(const Creation&) const = default;
};

struct StoredRecord {
  std::string id;
  std::uint64_t version = 0;
  std::string created_at;
  std::string updated_at;
  std::string order;                                        // creation order, see keys::order_key
  std::vector<std::pair<std::string, std::string>> fields;  // key -> JSON text, sorted by key
  FieldStamps stamps;                                       // fields changed since creation
  std::optional<Creation> creation;                         // until the first change

  // The field's JSON text, or nullptr when the record has no such field.
  [[nodiscard]] const std::string* field(std::string_view key) const;
  // Sets (or with nullopt removes) one field, keeping the key order.
  void set_field(std::string_view key, const std::optional<Json>& value);
  // The value of a field that holds a JSON string ("" otherwise): owners and relation ids.
  [[nodiscard]] std::string string_field(std::string_view key) const;
  // The same read straight off the text, for a string without escapes (all we write); nullopt
  // for an absent field, another type or a string with escapes.
  [[nodiscard]] std::optional<std::string_view> plain_string_field(std::string_view key) const;
  // Parsed values of the named fields only (those the record has).
  [[nodiscard]] Json::Object parse_fields(const std::vector<std::string>& keys) const;

  [[nodiscard]] std::string encode() const;
  // The same into `out` (its buffer reused).
  void encode_into(std::string& out) const;
  [[nodiscard]] static std::optional<StoredRecord> decode(std::string_view bytes);
  // The same into `r`, reusing what its strings and vectors hold (a scan over many records
  // allocates next to nothing); false, with `r` unspecified, when `bytes` is not a record.
  // With `creation` false the creation is left out (r.creation empty, its bytes not read): for
  // readers that only serve or place the record, never for one that writes it back.
  [[nodiscard]] static bool decode_into(std::string_view bytes, StoredRecord& r, bool creation = true);
};

// Builds a record from an event's field object.
[[nodiscard]] StoredRecord stored_record(std::string_view id, std::uint64_t version, std::string_view created_at,
                                         std::string_view updated_at, std::string_view order,
                                         const Json::Object& fields);
// The same into `r`, reusing what its strings and vectors hold: a replay creates a million
// records through one. Its creation is left as it was, for the caller to set or reset (so that
// it too keeps its buffers).
void assign_stored_record(StoredRecord& r, std::string_view id, std::uint64_t version, std::string_view created_at,
                          std::string_view updated_at, std::string_view order, const Json::Object& fields);

// The version and updated_at one reader is shown for a record.
struct Shown {
  std::uint64_t version = 0;
  std::string_view updated_at;  // into the record, or into the caller's scratch string
};

// What internal users are shown: the real version and updated_at.
[[nodiscard]] inline Shown shown_whole(const StoredRecord& r) { return {r.version, r.updated_at}; }

// What a reader of the columns `readable(key)` is shown: the last change it can see
// (stamps.hpp), else the creation. A time that is neither the record's creation nor its last
// change is formatted into `scratch`.
template <typename Readable>
[[nodiscard]] Shown shown_to(const StoredRecord& r, Readable&& readable, std::string& scratch) {
  const FieldStamp* last = last_visible_change(r.stamps, readable);
  if (last == nullptr) return {1, r.created_at};
  if (last->stamp.version == r.version) return {r.version, r.updated_at};
  scratch = format_timestamp(last->stamp.at);
  return {last->stamp.version, scratch};
}

// Appends the bytes the API sends for a record, `{id, version, created_at, updated_at, fields}`
// in that order, with the version and updated_at `shown`. `keep(key, json_text, replacement)`
// answers whether a field is sent; it may put other JSON text for it in `replacement` (a
// relation cut to the ids the reader may see).
template <typename Keep>
void append_served(std::string& out, const StoredRecord& r, Shown shown, Keep&& keep);
// The same with the real version and updated_at (the internal view).
template <typename Keep>
void append_served(std::string& out, const StoredRecord& r, Keep&& keep) {
  append_served(out, r, shown_whole(r), std::forward<Keep>(keep));
}

// The part before the fields: `{"id":..,"version":..,"created_at":..,"updated_at":..,"fields":{`.
void append_served_head(std::string& out, const StoredRecord& r, Shown shown);

template <typename Keep>
void append_served(std::string& out, const StoredRecord& r, Shown shown, Keep&& keep) {
  std::size_t size = out.size() + 128 + r.id.size();
  for (const auto& [k, v] : r.fields) size += k.size() + v.size() + 4;
  out.reserve(size);
  append_served_head(out, r, shown);
  bool first = true;
  std::string text;
  for (const auto& [k, v] : r.fields) {
    text.clear();
    if (!keep(k, v, text)) continue;
    if (!first) out.push_back(',');
    first = false;
    write_json_string(out, k);
    out.push_back(':');
    out += text.empty() ? v : text;
  }
  out += "}}";
}

}  // namespace apexloop::projector
