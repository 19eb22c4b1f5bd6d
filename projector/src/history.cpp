#include "apexloop/projector/history.hpp"

#include <algorithm>

#include "apexloop/core/access.hpp"
#include "apexloop/projector/keys.hpp"

namespace apexloop {


namespace projector {
namespace {

// One entry, its keys in the order a Json::Object keeps them (sorted), so it reads exactly as
// one built from a Json value would. `changes` and `owner` are JSON text.
void write_entry(std::string& entry, std::string_view actor_id, std::string_view actor_kind, std::string_view at,
                 std::string_view changes, std::string_view event_id, std::string_view owner, std::string_view position,
                 std::uint64_t seq, std::string_view type) {
  entry.reserve(256 + changes.size());
  entry += "{\"actor\":{\"id\":";
  write_json_string(entry, actor_id);
  entry += ",\"kind\":";
  write_json_string(entry, actor_kind);
  entry += "},\"at\":";
  write_json_string(entry, at);
  entry += ",\"changes\":";
  entry += changes;
  entry += ",\"event_id\":";
  write_json_string(entry, event_id);
  entry += ",\"owner\":";
  entry += owner;
  entry += ",\"position\":";
  write_json_string(entry, position);
  entry += ",\"seq\":";
  entry += std::to_string(seq);  // the record version this event made
  entry += ",\"type\":";
  write_json_string(entry, type);
  entry.push_back('}');
}

void add_change(std::string& changes, std::string_view key, std::string_view side, std::string_view value_text) {
  if (changes.size() > 1) changes.push_back(',');
  write_json_string(changes, key);
  changes += ":{";
  write_json_string(changes, side);
  changes.push_back(':');
  changes += value_text;
  changes.push_back('}');
}

}  // namespace

std::optional<PendingHistory> prepare_history(const Envelope& e, Position at, const WorkspaceState& ws,
                                             const StoredRecord* before) {
  const bool created = e.type == event_type::record_created;
  const bool updated = e.type == event_type::record_updated;
  const bool deleted = e.type == event_type::record_deleted;
  if (!created && !updated && !deleted) return std::nullopt;
  const std::string db_key(e.data.string_or("database", ""));
  const std::string_view id = e.data.string_or("record_id", "");
  const DatabaseDef* db = ws.database(db_key);
  if (db == nullptr || id.empty()) return std::nullopt;
  const ColumnDef* owner_col = owner_column(*db);
  const std::string owner_key = owner_col == nullptr ? "" : owner_col->key;

  // The entry is written as text straight away (write_entry).
  std::string changes;
  changes.reserve(512);
  changes.push_back('{');
  // The owner's JSON text when it is a string, else null.
  std::string owner = "null";
  const auto owner_from = [&](const Json* v) {
    if (v != nullptr && v->is_string()) owner = to_json(*v);
  };
  const auto owner_before = [&] {
    const std::string* text = before->field(owner_key);
    if (text != nullptr && text->starts_with('"')) owner = *text;  // kept as to_json() wrote it
  };
  if (created) {
    const Json* fields = e.data.find("fields");
    if (fields == nullptr || !fields->is_object()) return std::nullopt;
    for (const auto& [k, v] : fields->as_object()) add_change(changes, k, "after", to_json(v));
    owner_from(fields->find(owner_key));
  } else if (updated) {
    const Json* c = e.data.find("changes");
    if (c == nullptr || !c->is_object()) return std::nullopt;
    for (const auto& [k, v] : c->as_object()) {
      if (changes.size() > 1) changes.push_back(',');
      write_json_string(changes, k);
      changes.push_back(':');
      write_json(changes, v);
    }
    if (const Json* oc = c->find(owner_key)) {
      owner_from(oc->find("after"));
    } else if (!owner_key.empty() && before != nullptr) {
      owner_before();
    }
  } else {
    // A deletion removes every field: its entry shows what was there, so the history is complete
    // without the reader having to fold earlier entries.
    if (before == nullptr) return std::nullopt;
    for (const auto& [k, text] : before->fields) add_change(changes, k, "before", text);
    if (!owner_key.empty()) owner_before();
  }
  changes.push_back('}');
  std::string entry;
  write_entry(entry, e.actor.id, e.actor.kind, format_timestamp(e.at), changes, e.id, owner, to_string(at), e.seq,
              e.type);
  return PendingHistory{keys::history(ws.id, db_key, id, e.seq), std::move(entry)};
}

void commit_history(const std::optional<PendingHistory>& h, KvView& kv) {
  if (h) kv.put(h->key, h->entry);
}

bool carries_creation(const Envelope& e) {
  if (e.type != event_type::record_created) return false;
  const Json* fields = e.data.find("fields");
  if (fields == nullptr || !fields->is_object()) return false;
  return std::ranges::none_of(fields->as_object(), [](const auto& f) { return f.second.is_null(); });
}

void assign_creation(Creation& c, const Envelope& e, Position at, std::string_view owner_key) {
  c.actor_kind.assign(e.actor.kind);
  c.actor_id.assign(e.actor.id);
  c.event_id.assign(e.id);
  c.position.clear();
  append_position(c.position, at);
  c.owner_key.assign(owner_key);
  c.seq = e.seq;
}

std::optional<PendingHistory> carried_history(std::string_view ws, std::string_view db, const StoredRecord& r) {
  if (!r.creation) return std::nullopt;
  const Creation& c = *r.creation;
  // The fields are still the ones the creation gave (without nulls: carries_creation), each
  // already JSON text.
  std::string changes;
  changes.reserve(64 + 24 * r.fields.size());
  changes.push_back('{');
  for (const auto& [k, v] : r.fields) add_change(changes, k, "after", v);
  changes.push_back('}');
  const std::string* owner = c.owner_key.empty() ? nullptr : r.field(c.owner_key);
  std::string entry;
  write_entry(entry, c.actor_id, c.actor_kind, r.created_at, changes, c.event_id,
              owner != nullptr && owner->starts_with('"') ? std::string_view(*owner) : "null", c.position, c.seq,
              event_type::record_created);
  return PendingHistory{keys::history(ws, db, r.id, c.seq), std::move(entry)};
}

}  // namespace projector
}  // namespace apexloop
