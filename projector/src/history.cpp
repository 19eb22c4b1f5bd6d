#include "apexloop/projector/history.hpp"

#include <fmt/format.h>

#include "apexloop/core/access.hpp"
#include "apexloop/projector/keys.hpp"

namespace apexloop {

std::string keys::history_seq(std::uint64_t seq) { return fmt::format("{:016x}", seq); }

namespace projector {
namespace {

// The record's fields as the internal view serves them now (every field), if it exists.
std::optional<Json::Object> current_fields(KvView& kv, std::string_view ws, std::string_view db, std::string_view id) {
  auto served = served_record(kv, ws, keys::kInternalSet, db, id);
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
  const std::string id(e.data.string_or("record_id", ""));
  const DatabaseDef* db = ws.database(db_key);
  if (db == nullptr || id.empty()) return std::nullopt;
  const ColumnDef* owner_col = owner_column(*db);
  const std::string owner_key = owner_col == nullptr ? "" : owner_col->key;

  Json::Object changes;
  Json owner;
  const std::uint64_t seq = e.seq;  // the record version this event made
  if (created) {
    const Json* fields = e.data.find("fields");
    if (fields == nullptr || !fields->is_object()) return std::nullopt;
    for (const auto& [k, v] : fields->as_object()) changes.emplace(k, Json(Json::Object{{"after", v}}));
    owner = owner_value(fields->find(owner_key));
  } else if (updated) {
    const Json* c = e.data.find("changes");
    if (c == nullptr || !c->is_object()) return std::nullopt;
    changes = c->as_object();
    if (const Json* oc = c->find(owner_key)) {
      owner = owner_value(oc->find("after"));
    } else if (!owner_key.empty()) {
      auto now = current_fields(kv, ws.id, db_key, id);
      owner = now ? owner_value(now->contains(owner_key) ? &now->at(owner_key) : nullptr) : Json();
    }
  } else {
    // A deletion removes every field: its entry shows what was there, so the history is complete
    // without the reader having to fold earlier entries.
    auto now = current_fields(kv, ws.id, db_key, id);
    if (!now) return std::nullopt;
    for (const auto& [k, v] : *now) changes.emplace(k, Json(Json::Object{{"before", v}}));
    owner = owner_value(now->contains(owner_key) ? &now->at(owner_key) : nullptr);
  }
  Json::Object entry{{"seq", static_cast<std::int64_t>(seq)},
                     {"type", e.type},
                     {"at", format_timestamp(e.at)},
                     {"actor", Json(Json::Object{{"kind", e.actor.kind}, {"id", e.actor.id}})},
                     {"event_id", e.id},
                     {"position", to_string(at)},
                     {"owner", std::move(owner)},
                     {"changes", Json(std::move(changes))}};
  return PendingHistory{keys::history(ws.id, db_key, id, seq), to_json(Json(std::move(entry)))};
}

void commit_history(const std::optional<PendingHistory>& h, KvView& kv) {
  if (h) kv.put(h->key, h->entry);
}

}  // namespace projector
}  // namespace apexloop
