#include "apexloop/projector/projection.hpp"

#include <fmt/format.h>

#include "apexloop/projector/keys.hpp"

namespace apexloop {

std::string keys::order_key(std::int64_t offset) { return fmt::format("{:016x}", offset); }

namespace projector {

std::optional<std::string> MapKv::get(std::string_view key) {
  auto it = data.find(key);
  if (it == data.end()) return std::nullopt;
  return it->second;
}
void MapKv::put(std::string_view key, std::string_view value) {
  data.insert_or_assign(std::string(key), std::string(value));
}
void MapKv::del(std::string_view key) {
  auto it = data.find(key);
  if (it != data.end()) data.erase(it);
}

namespace {

// The bytes the API sends for a record, members in the documented order.
std::string served_json(const Json& canonical) {
  std::string out;
  out += "{\"id\":";
  write_json_string(out, canonical.string_or("id", ""));
  out += ",\"version\":";
  write_json(out, *canonical.find("version"));
  out += ",\"created_at\":";
  write_json_string(out, canonical.string_or("created_at", ""));
  out += ",\"updated_at\":";
  write_json_string(out, canonical.string_or("updated_at", ""));
  out += ",\"fields\":";
  write_json(out, *canonical.find("fields"));
  out.push_back('}');
  return out;
}

std::expected<Json, std::string> load(KvView& kv, const std::string& key) {
  auto bytes = kv.get(key);
  if (!bytes) return std::unexpected("missing " + key);
  auto j = parse_json(*bytes);
  if (!j || !j->is_object()) return std::unexpected("unreadable " + key);
  return std::move(*j);
}

void write_record(KvView& kv, const std::string& ws, const std::string& db, const Json& canonical) {
  const std::string id(canonical.string_or("id", ""));
  const std::string served = served_json(canonical);
  kv.put(keys::canonical_record(ws, db, id), to_json(canonical));
  kv.put(keys::served_record(ws, keys::kInternalSet, db, id), served);
  kv.put(keys::list_prefix(ws, keys::kInternalSet, db) + std::string(canonical.string_or("order", "")), served);
}

}  // namespace

std::expected<void, std::string> project(const Envelope& e, Position at, KvView& kv) {
  const Json& d = e.data;
  const std::string& ws = e.workspace;
  if (e.type == event_type::workspace_created) {
    kv.put(keys::workspace(ws), to_json(Json(Json::Object{{"id", ws}, {"name", d.string_or("name", "")}})));
    return {};
  }
  if (!kv.get(keys::workspace(ws))) return std::unexpected("event for an unknown workspace");

  if (e.type == event_type::user_added) {
    Json::Object u = d.as_object();
    u.erase("user_id");
    u["id"] = std::string(d.string_or("user_id", ""));
    kv.put(keys::user(ws, d.string_or("user_id", "")), to_json(Json(std::move(u))));
  } else if (e.type == event_type::database_defined) {
    const std::string key(d.string_or("key", ""));
    if (kv.get(keys::database(ws, key))) return std::unexpected("database defined twice");
    kv.put(keys::database(ws, key),
           to_json(Json(Json::Object{{"key", key}, {"name", d.string_or("name", "")}, {"columns", Json::Array{}}})));
  } else if (e.type == event_type::column_added) {
    const std::string dbkey = keys::database(ws, d.string_or("database", ""));
    auto db = load(kv, dbkey);
    if (!db) return std::unexpected(db.error());
    Json::Object col = d.as_object();
    col.erase("database");
    db->as_object()["columns"].as_array().push_back(Json(std::move(col)));
    kv.put(dbkey, to_json(*db));
  } else if (e.type == event_type::record_created) {
    const std::string db(d.string_or("database", ""));
    const std::string id(d.string_or("record_id", ""));
    const Json* fields = d.find("fields");
    if (fields == nullptr || !fields->is_object()) return std::unexpected("record.created without fields");
    if (!kv.get(keys::database(ws, db))) return std::unexpected("record in an unknown database");
    if (kv.get(keys::canonical_record(ws, db, id))) return std::unexpected("record created twice");
    const std::string at_text = format_timestamp(e.at);
    Json canonical(Json::Object{{"id", id},
                                {"version", static_cast<std::int64_t>(1)},
                                {"created_at", at_text},
                                {"updated_at", at_text},
                                {"fields", *fields},
                                {"order", keys::order_key(at.offset)}});
    write_record(kv, ws, db, canonical);
  } else if (e.type == event_type::record_updated) {
    const std::string db(d.string_or("database", ""));
    const Json* changes = d.find("changes");
    if (changes == nullptr || !changes->is_object()) return std::unexpected("record.updated without changes");
    auto rec = load(kv, keys::canonical_record(ws, db, d.string_or("record_id", "")));
    if (!rec) return std::unexpected(rec.error());
    auto& obj = rec->as_object();
    if (static_cast<std::uint64_t>(obj["version"].as_int()) + 1 != e.seq) {
      return std::unexpected("record.updated out of sequence");
    }
    auto& fields = obj["fields"].as_object();
    for (const auto& [key, change] : changes->as_object()) {
      const Json* after = change.find("after");
      if (after == nullptr || after->is_null()) {
        fields.erase(key);
      } else {
        fields.insert_or_assign(key, *after);
      }
    }
    obj["version"] = static_cast<std::int64_t>(e.seq);
    obj["updated_at"] = format_timestamp(e.at);
    write_record(kv, ws, db, *rec);
  } else if (e.type == event_type::record_deleted) {
    const std::string db(d.string_or("database", ""));
    const std::string id(d.string_or("record_id", ""));
    auto rec = load(kv, keys::canonical_record(ws, db, id));
    if (!rec) return std::unexpected(rec.error());
    kv.del(keys::canonical_record(ws, db, id));
    kv.del(keys::served_record(ws, keys::kInternalSet, db, id));
    kv.del(keys::list_prefix(ws, keys::kInternalSet, db) + std::string(rec->string_or("order", "")));
  }
  return {};
}

}  // namespace projector
}  // namespace apexloop
