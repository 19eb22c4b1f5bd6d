#pragma once
// A record as the projector keeps it: its system fields and each field's value already written
// as JSON text. Re-projecting a record into a principal set then cuts and joins bytes, and only
// the few fields a filter names are ever parsed.
//
// Encoding (values are binary-safe): "R1", then u32 little-endian length + bytes for id,
// created_at, updated_at and order, a u64 version, a u32 field count, and for each field in
// key order its key and its JSON text, each length-prefixed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apexloop/core/json.hpp"

namespace apexloop::projector {

struct StoredRecord {
  std::string id;
  std::uint64_t version = 0;
  std::string created_at;
  std::string updated_at;
  std::string order;                                        // creation order, see keys::order_key
  std::vector<std::pair<std::string, std::string>> fields;  // key -> JSON text, sorted by key

  // The field's JSON text, or nullptr when the record has no such field.
  [[nodiscard]] const std::string* field(std::string_view key) const;
  // Sets (or with nullopt removes) one field, keeping the key order.
  void set_field(std::string_view key, const std::optional<Json>& value);
  // The value of a field that holds a JSON string ("" otherwise): owners and relation ids.
  [[nodiscard]] std::string string_field(std::string_view key) const;
  // Parsed values of the named fields only (those the record has).
  [[nodiscard]] Json::Object parse_fields(const std::vector<std::string>& keys) const;

  [[nodiscard]] std::string encode() const;
  [[nodiscard]] static std::optional<StoredRecord> decode(std::string_view bytes);
};

// Builds a record from an event's field object.
[[nodiscard]] StoredRecord stored_record(std::string id, std::uint64_t version, std::string created_at,
                                         std::string updated_at, std::string order, const Json::Object& fields);

// Appends the bytes the API sends for a record, `{id, version, created_at, updated_at, fields}`
// in that order. `keep(key, json_text, replacement)` answers whether a field is sent; it may put
// other JSON text for it in `replacement` (a relation cut to the ids the reader may see).
template <typename Keep>
void append_served(std::string& out, const StoredRecord& r, Keep&& keep);

// The part before the fields: `{"id":..,"version":..,"created_at":..,"updated_at":..,"fields":{`.
void append_served_head(std::string& out, const StoredRecord& r);

template <typename Keep>
void append_served(std::string& out, const StoredRecord& r, Keep&& keep) {
  std::size_t size = out.size() + 128 + r.id.size();
  for (const auto& [k, v] : r.fields) size += k.size() + v.size() + 4;
  out.reserve(size);
  append_served_head(out, r);
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
