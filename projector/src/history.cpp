#include "apexloop/projector/history.hpp"

#include "apexloop/core/access.hpp"
#include "apexloop/projector/keys.hpp"

namespace apexloop {


namespace projector {
namespace {

// The record's fields as the internal view serves them now (every field), if it exists.
std::optional<Json::Object> current_fields(KvView& kv, std::string_view ws, std::string_view db, std::string_view id) {
  auto served = served_record(kv, ws, keys::kInternalSet, "", db, id);
  if (!served) return std::nullopt;
  auto j = parse_json(*served);
  const Json* fields = j ? j->find("fields") : nullptr;
  if (fields == nullptr || !fields->is_object()) return std::nullopt;
  return fields->as_object();
}

Json owner_value(const Json* v) { return v != nullptr && v->is_string() ? *v : Json(); }

}  // namespace

std::optional<PendingHistory> prepare_history(const Envelope& e, Position at, const WorkspaceState& ws, KvView& kv) {
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

  // The entry is written as text straight away, its keys in the order a Json::Object keeps them
  // (sorted), so it reads exactly as one built from a Json value would.
  std::string changes;
  changes.reserve(512);
  changes.push_back('{');
  const Json* owner = nullptr;
  std::optional<Json::Object> now;  // the fields before this event, when it must be read
  auto add_change = [&](const std::string& key, std::string_view side, const Json& value) {
    if (changes.size() > 1) changes.push_back(',');
    write_json_string(changes, key);
    changes += ":{";
    write_json_string(changes, side);
    changes.push_back(':');
    write_json(changes, value);
    changes.push_back('}');
  };
  if (created) {
    const Json* fields = e.data.find("fields");
    if (fields == nullptr || !fields->is_object()) return std::nullopt;
    for (const auto& [k, v] : fields->as_object()) add_change(k, "after", v);
    owner = fields->find(owner_key);
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
      owner = oc->find("after");
    } else if (!owner_key.empty()) {
      now = current_fields(kv, ws.id, db_key, id);
      if (now && now->contains(owner_key)) owner = &now->at(owner_key);
    }
  } else {
    // A deletion removes every field: its entry shows what was there, so the history is complete
    // without the reader having to fold earlier entries.
    now = current_fields(kv, ws.id, db_key, id);
    if (!now) return std::nullopt;
    for (const auto& [k, v] : *now) add_change(k, "before", v);
    if (now->contains(owner_key)) owner = &now->at(owner_key);
  }
  changes.push_back('}');
  std::string entry = "{\"actor\":{\"id\":";
  entry.reserve(256 + changes.size());
  write_json_string(entry, e.actor.id);
  entry += ",\"kind\":";
  write_json_string(entry, e.actor.kind);
  entry += "},\"at\":";
  write_json_string(entry, format_timestamp(e.at));
  entry += ",\"changes\":";
  entry += changes;
  entry += ",\"event_id\":";
  write_json_string(entry, e.id);
  entry += ",\"owner\":";
  write_json(entry, owner_value(owner));
  entry += ",\"position\":";
  write_json_string(entry, to_string(at));
  entry += ",\"seq\":";
  entry += std::to_string(e.seq);  // the record version this event made
  entry += ",\"type\":";
  write_json_string(entry, e.type);
  entry.push_back('}');
  return PendingHistory{keys::history(ws.id, db_key, id, e.seq), std::move(entry)};
}

void commit_history(const std::optional<PendingHistory>& h, KvView& kv) {
  if (h) kv.put(h->key, h->entry);
}

}  // namespace projector
}  // namespace apexloop
