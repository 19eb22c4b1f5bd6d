#include "apexloop/projector/projection.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "apexloop/events/codec.hpp"
#include "apexloop/projector/keys.hpp"

namespace apexloop {

std::string keys::order_key(std::int64_t offset) { return fmt::format("{:016x}", offset); }

namespace projector {

std::optional<std::string> MapKv::get(std::string_view key) {
  auto it = data.find(key);
  if (it == data.end()) return std::nullopt;
  return it->second;
}
void MapKv::put(std::string_view key, std::string_view value) { data.insert_or_assign(std::string(key), std::string(value)); }
void MapKv::del(std::string_view key) {
  auto it = data.find(key);
  if (it != data.end()) data.erase(it);
}
void MapKv::scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) {
  // Collected first so that `fn` may write to this view while we walk it.
  std::vector<std::pair<std::string, std::string>> hits;
  for (auto it = data.lower_bound(prefix); it != data.end() && it->first.starts_with(prefix); ++it) hits.emplace_back(*it);
  for (const auto& [k, v] : hits) fn(k, v);
}

std::string served_json(const Json& canonical, const Json::Object& fields) {
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
  write_json(out, Json(fields));
  out.push_back('}');
  return out;
}

std::vector<PrincipalSet> principal_sets(const WorkspaceState& ws, std::string_view client, std::string_view role,
                                         std::string_view db, TimestampMs now) {
  std::vector<PrincipalSet> out;
  const ClientState* c = ws.active_client(client);
  const PolicyEntry* p = c == nullptr ? nullptr : ws.effective_policy(*c, role, db);
  if (p == nullptr) return out;
  const std::string shared = std::string(client) + ":" + std::string(role);
  if (p->policy.read_filter && uses_var(*p->policy.read_filter, "contact.id")) {
    for (const auto& [id, contact] : ws.contacts) {
      if (contact.client_id == client && contact.role == role && ws.active_contact(id) != nullptr) {
        out.push_back({shared + ":" + id, std::string(role), ws.vars_of(contact, now)});
      }
    }
  } else {
    out.push_back({shared, std::string(role), PrincipalVars{"", std::string(client), c->client_type, now}});
  }
  return out;
}

namespace {

bool is_access_event(std::string_view t) {
  return t == event_type::user_added || t == event_type::database_defined || t == event_type::column_added ||
         t == event_type::client_type_defined || t == event_type::portal_role_defined || t == event_type::client_created ||
         t == event_type::client_updated || t == event_type::client_archived || t == event_type::contact_invited ||
         t == event_type::contact_joined || t == event_type::contact_deactivated || t == event_type::policy_set ||
         t == event_type::policy_removed || t == event_type::view_defined || t == event_type::user_invited ||
         t == event_type::user_joined || t == event_type::user_deactivated;
}

std::optional<Json> load_json(KvView& kv, const std::string& key) {
  auto bytes = kv.get(key);
  if (!bytes) return std::nullopt;
  auto j = parse_json(*bytes);
  if (!j || !j->is_object()) return std::nullopt;
  return std::move(*j);
}

const Json::Object& fields_of(const Json& canonical) { return canonical.find("fields")->as_object(); }

RecordView view_of(const Json& canonical) {
  return RecordView{fields_of(canonical), canonical.string_or("id", ""),
                    static_cast<std::uint64_t>(canonical.find("version")->as_int()), canonical.string_or("created_at", ""),
                    canonical.string_or("updated_at", "")};
}

std::string owner_of(const DatabaseDef& db, const Json& canonical) {
  const ColumnDef* owner = owner_column(db);
  if (owner == nullptr) return "";
  const Json* v = canonical.find("fields")->find(owner->key);
  return v != nullptr && v->is_string() ? v->as_string() : "";
}

std::set<std::pair<std::string, std::string>> relation_targets(const DatabaseDef& db, const Json& canonical) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& col : db.columns) {
    if (col.type != ColumnType::relation) continue;
    const Json* v = canonical.find("fields")->find(col.key);
    if (v == nullptr || !v->is_array()) continue;
    for (const auto& id : v->as_array()) {
      if (id.is_string()) out.emplace(std::string(col.options.string_or("database", "")), id.as_string());
    }
  }
  return out;
}

// What one event does to one workspace's read models.
class Step {
 public:
  Step(const WorkspaceState& ws, KvView& kv, TimestampMs now) : ws_(ws), kv_(kv), now_(now) {}

  // The internal view of a record (every field) plus the owner and relation indexes.
  void write_internal(const DatabaseDef& db, const std::optional<Json>& before, const std::optional<Json>& after) {
    const std::string& w = ws_.id;
    const Json& any = after ? *after : *before;
    const std::string id(any.string_or("id", ""));
    const std::string order(any.string_or("order", ""));
    if (after) {
      const std::string served = served_json(*after, fields_of(*after));
      kv_.put(keys::canonical_record(w, db.key, id), to_json(*after));
      kv_.put(keys::served_record(w, keys::kInternalSet, db.key, id), served);
      kv_.put(keys::list_prefix(w, keys::kInternalSet, db.key) + order, served);
    } else {
      kv_.del(keys::canonical_record(w, db.key, id));
      kv_.del(keys::served_record(w, keys::kInternalSet, db.key, id));
      kv_.del(keys::list_prefix(w, keys::kInternalSet, db.key) + order);
    }
    const std::string old_owner = before ? owner_of(db, *before) : "";
    const std::string new_owner = after ? owner_of(db, *after) : "";
    if (old_owner != new_owner && !old_owner.empty()) kv_.del(keys::owner_prefix(w, db.key, old_owner) + order);
    if (!new_owner.empty()) kv_.put(keys::owner_prefix(w, db.key, new_owner) + order, id);
    const auto old_targets = before ? relation_targets(db, *before) : std::set<std::pair<std::string, std::string>>{};
    const auto new_targets = after ? relation_targets(db, *after) : std::set<std::pair<std::string, std::string>>{};
    for (const auto& [tdb, tid] : old_targets) {
      if (!new_targets.contains({tdb, tid})) kv_.del(keys::referrers_prefix(w, tdb, tid) + db.key + "/" + id);
    }
    for (const auto& [tdb, tid] : new_targets) kv_.put(keys::referrers_prefix(w, tdb, tid) + db.key + "/" + id, "");
  }

  // Re-projects one record into every set of its owners (before and after), then the records
  // of the same client that point at it, when its visibility changed somewhere.
  void reproject_record(const DatabaseDef& db, const std::optional<Json>& before, const std::optional<Json>& after) {
    std::set<std::string> owners;
    if (before) owners.insert(owner_of(db, *before));
    if (after) owners.insert(owner_of(db, *after));
    owners.erase("");
    const Json& any = after ? *after : *before;
    for (const auto& owner : owners) {
      bool flipped = false;
      for (const auto& [role, _] : ws_.portal_roles) {
        for (const auto& set : principal_sets(ws_, owner, role, db.key, now_)) {
          flipped = project_into(set, db, any, after.has_value()) || flipped;
        }
      }
      if (flipped) reproject_referrers(owner, db.key, std::string(any.string_or("id", "")));
    }
  }

  // After access changed: for each (client, role, database) in scope, drop the sets that no
  // longer exist, rebuild the ones that do, and point each contact at its set.
  void reproject_scope(const WorkspaceState& before, const std::set<std::string>& clients,
                       const std::set<std::string>& roles, const std::set<std::string>& dbs) {
    for (const auto& client : clients) {
      for (const auto& role : roles) {
        for (const auto& db_key : dbs) {
          const DatabaseDef* db = ws_.database(db_key);
          const auto old_sets = principal_sets(before, client, role, db_key, now_);
          const auto new_sets = db == nullptr ? std::vector<PrincipalSet>{} : principal_sets(ws_, client, role, db_key, now_);
          for (const auto& s : old_sets) {
            if (std::find(new_sets.begin(), new_sets.end(), s) == new_sets.end()) drop(s.id, client, db_key);
          }
          for (const auto& s : new_sets) {
            write_listing(s, *db);
            kv_.scan(keys::owner_prefix(ws_.id, db_key, client), [&](std::string_view, std::string_view id) {
              if (auto rec = load_json(kv_, keys::canonical_record(ws_.id, db_key, id))) {
                if (project_into(s, *db, *rec, true)) reproject_referrers(client, db_key, std::string(id));
              }
            });
          }
          route_contacts(before, client, role, db_key, new_sets);
        }
      }
    }
  }

 private:
  // Puts or removes one record in one set; answers whether its visibility there changed.
  bool project_into(const PrincipalSet& set, const DatabaseDef& db, const Json& canonical, bool exists) {
    const std::string& w = ws_.id;
    const std::string id(canonical.string_or("id", ""));
    const std::string r_key = keys::served_record(w, set.id, db.key, id);
    const std::string l_key = keys::list_prefix(w, set.id, db.key) + std::string(canonical.string_or("order", ""));
    const bool existed = kv_.get(r_key).has_value();
    const PolicyEntry* entry = ws_.effective_policy(*ws_.active_client(set.vars.client_id), set.role, db.key);
    const bool visible = exists && entry != nullptr && may_read(entry->policy, db, view_of(canonical), set.vars);
    if (visible) {
      Json::Object fields = readable_fields(entry->policy, db, fields_of(canonical));
      omit_invisible_relations(set, db, fields);
      const std::string served = served_json(canonical, fields);
      kv_.put(r_key, served);
      kv_.put(l_key, served);
    } else if (existed) {
      kv_.del(r_key);
      kv_.del(l_key);
    }
    return existed != visible;
  }

  // A relation value that points at a record this set cannot see is left out, so its existence
  // does not leak. A shared set cannot know what each contact sees of a per-contact database,
  // so such targets are left out there too.
  void omit_invisible_relations(const PrincipalSet& set, const DatabaseDef& db, Json::Object& fields) {
    for (const auto& col : db.columns) {
      if (col.type != ColumnType::relation) continue;
      auto it = fields.find(col.key);
      if (it == fields.end() || !it->second.is_array()) continue;
      const std::string tdb_key(col.options.string_or("database", ""));
      const DatabaseDef* tdb = ws_.database(tdb_key);
      const PolicyEntry* entry = tdb == nullptr ? nullptr : ws_.effective_policy(*ws_.active_client(set.vars.client_id), set.role, tdb_key);
      Json::Array kept;
      for (const auto& tid : it->second.as_array()) {
        if (entry == nullptr || !tid.is_string()) continue;
        if (entry->policy.read_filter && uses_var(*entry->policy.read_filter, "contact.id") && set.vars.contact_id.empty()) continue;
        auto target = load_json(kv_, keys::canonical_record(ws_.id, tdb_key, tid.as_string()));
        if (target && may_read(entry->policy, *tdb, view_of(*target), set.vars)) kept.push_back(tid);
      }
      if (kept.empty()) {
        fields.erase(it);
      } else {
        it->second = Json(std::move(kept));
      }
    }
  }

  void reproject_referrers(const std::string& client, const std::string& db, const std::string& id) {
    kv_.scan(keys::referrers_prefix(ws_.id, db, id), [&](std::string_view key, std::string_view) {
      const auto rest = key.substr(keys::referrers_prefix(ws_.id, db, id).size());
      const auto slash = rest.find('/');
      const std::string from_db(rest.substr(0, slash));
      const std::string from_id(rest.substr(slash + 1));
      const DatabaseDef* fdb = ws_.database(from_db);
      auto rec = fdb == nullptr ? std::nullopt : load_json(kv_, keys::canonical_record(ws_.id, from_db, from_id));
      // Only the same client's records can show this one: ownership is never crossed.
      if (!rec || owner_of(*fdb, *rec) != client) return;
      for (const auto& [role, _] : ws_.portal_roles) {
        for (const auto& s : principal_sets(ws_, client, role, from_db, now_)) project_into(s, *fdb, *rec, true);
      }
    });
  }

  // A set that no longer exists for `db`: its records leave it, and the same client's records
  // that point at them are re-projected (regression: a relation outlived its target's policy).
  void drop(const std::string& set, const std::string& client, const std::string& db) {
    std::vector<std::string> ids;
    kv_.scan(keys::list_prefix(ws_.id, set, db), [&](std::string_view key, std::string_view value) {
      if (auto rec = parse_json(value)) {
        ids.emplace_back(rec->string_or("id", ""));
        kv_.del(keys::served_record(ws_.id, set, db, ids.back()));
      }
      kv_.del(key);
    });
    kv_.del(keys::set_database(ws_.id, set, db));
    for (const auto& id : ids) reproject_referrers(client, db, id);
  }

  void write_listing(const PrincipalSet& set, const DatabaseDef& db) {
    const PolicyEntry* entry = ws_.effective_policy(*ws_.active_client(set.vars.client_id), set.role, db.key);
    const ColumnDef* owner = owner_column(db);
    Json::Array columns;
    for (const auto& c : db.columns) {
      const bool readable = (owner != nullptr && c.key == owner->key) ||
                            std::find(entry->policy.read_columns.begin(), entry->policy.read_columns.end(), c.key) !=
                                entry->policy.read_columns.end();
      if (!readable || c.internal) continue;
      const bool writable = std::find(entry->policy.write_columns.begin(), entry->policy.write_columns.end(), c.key) !=
                            entry->policy.write_columns.end();
      columns.push_back(Json(Json::Object{{"key", c.key},
                                          {"name", c.name},
                                          {"type", std::string(to_string(c.type))},
                                          {"options", c.options},
                                          {"readable", true},
                                          {"writable", writable}}));
    }
    kv_.put(keys::set_database(ws_.id, set.id, db.key),
            to_json(Json(Json::Object{{"key", db.key},
                                      {"name", db.name},
                                      {"columns", Json(std::move(columns))},
                                      {"create", entry->policy.create}})));
  }

  void route_contacts(const WorkspaceState& before, const std::string& client, const std::string& role,
                      const std::string& db, const std::vector<PrincipalSet>& sets) {
    std::set<std::string> contacts;
    for (const auto* model : {&before, &ws_}) {
      for (const auto& [id, c] : model->contacts) {
        if (c.client_id == client && c.role == role) contacts.insert(id);
      }
    }
    for (const auto& id : contacts) {
      const std::string key = keys::route(ws_.id, id, db);
      if (ws_.active_contact(id) == nullptr) {
        kv_.del(key);
        continue;
      }
      auto it = std::find_if(sets.begin(), sets.end(), [&](const PrincipalSet& s) {
        return s.vars.contact_id.empty() || s.vars.contact_id == id;
      });
      if (it == sets.end()) {
        kv_.del(key);
      } else {
        kv_.put(key, it->id);
      }
    }
  }

  const WorkspaceState& ws_;
  KvView& kv_;
  TimestampMs now_;
};

std::set<std::string> keys_of(const auto& map) {
  std::set<std::string> out;
  for (const auto& [k, _] : map) out.insert(k);
  return out;
}

}  // namespace

std::expected<void, std::string> Projection::load(KvView& kv) {
  std::string error;
  kv.scan(keys::kAccessLogPrefix, [&](std::string_view key, std::string_view value) {
    const auto nl = value.find('\n');
    const auto slash = key.rfind('/');
    auto e = events::decode(value.substr(nl + 1));
    if (nl == std::string_view::npos || !e) {
      error = "unreadable access event " + std::string(key);
      return;
    }
    const Position at{std::stoi(std::string(value.substr(0, nl))),
                      static_cast<std::int64_t>(std::stoull(std::string(key.substr(slash + 1)), nullptr, 16))};
    if (auto r = access_.apply(*e, at); !r && error.empty()) error = r.error();
  });
  if (!error.empty()) return std::unexpected(error);
  return {};
}

std::expected<void, std::string> Projection::apply(const Envelope& e, Position at, KvView& kv) {
  const Json& d = e.data;
  const std::string& w = e.workspace;
  auto log_access = [&] {
    kv.put(keys::access_log_prefix(w) + keys::order_key(at.offset), std::to_string(at.partition) + "\n" + events::encode(e));
  };
  if (e.type == event_type::workspace_created) {
    if (auto r = access_.apply(e, at); !r) return r;
    log_access();
    kv.put(keys::workspace(w), to_json(Json(Json::Object{{"id", w}, {"name", d.string_or("name", "")}})));
    return {};
  }
  const WorkspaceState* current = access_.workspace(w);
  if (current == nullptr) return std::unexpected("event for an unknown workspace");

  if (is_access_event(e.type)) {
    const WorkspaceState before = *current;
    if (auto r = access_.apply(e, at); !r) return r;
    log_access();
    const WorkspaceState& ws = *access_.workspace(w);
    Step step(ws, kv, e.at);
    std::set<std::string> clients, roles = keys_of(ws.portal_roles), dbs = keys_of(ws.databases);
    if (e.type.starts_with("user.")) {
      // The query service ends a deactivated user's sessions with this row, as with contacts.
      const UserState& u = ws.users.at(std::string(d.string_or("user_id", "")));
      kv.put(keys::user(w, u.id), to_json(Json(Json::Object{{"id", u.id},
                                                            {"email", u.email},
                                                            {"name", u.name},
                                                            {"role", u.role},
                                                            {"active", ws.active_user(u.id) != nullptr}})));
      return {};
    }
    if (e.type == event_type::database_defined || e.type == event_type::column_added) {
      const DatabaseDef& db = *ws.database(e.type == event_type::database_defined ? d.string_or("key", "")
                                                                                  : d.string_or("database", ""));
      Json::Array columns;
      for (const auto& c : db.columns) {
        columns.push_back(Json(Json::Object{{"key", c.key},
                                            {"name", c.name},
                                            {"type", std::string(to_string(c.type))},
                                            {"options", c.options},
                                            {"internal", c.internal}}));
      }
      kv.put(keys::database(w, db.key),
             to_json(Json(Json::Object{{"key", db.key}, {"name", db.name}, {"columns", Json(std::move(columns))}})));
      clients = keys_of(ws.clients);
      dbs = {db.key};
    } else if (e.type == event_type::view_defined) {
      Json::Object view = d.as_object();
      for (const char* k : {"scope", "database", "view"}) view.erase(k);
      kv.put(keys::view(w, d.string_or("scope", ""), d.string_or("database", ""), d.string_or("view", "")),
             to_json(Json(std::move(view))));
      return {};
    } else if (e.type == event_type::client_created || e.type == event_type::client_updated ||
               e.type == event_type::client_archived) {
      clients = {std::string(d.string_or("client_id", ""))};
      const ClientState& c = ws.clients.at(*clients.begin());
      kv.put(keys::client(w, c.id), to_json(Json(Json::Object{{"id", c.id},
                                                              {"name", c.name},
                                                              {"client_type", c.client_type},
                                                              {"archived", c.archived}})));
      if (e.type == event_type::client_archived) {
        // An archived client's contacts are out at once: the query service ends their sessions.
        for (const auto& [id, c] : ws.contacts) {
          if (c.client_id == *clients.begin()) {
            kv.put(keys::contact(w, id), to_json(Json(Json::Object{{"id", id}, {"client_id", c.client_id},
                                                                   {"role", c.role}, {"active", false}})));
          }
        }
      }
    } else if (e.type == event_type::contact_invited || e.type == event_type::contact_joined ||
               e.type == event_type::contact_deactivated) {
      const ContactState& c = ws.contacts.at(std::string(d.string_or("contact_id", "")));
      kv.put(keys::contact(w, c.id), to_json(Json(Json::Object{{"id", c.id},
                                                               {"client_id", c.client_id},
                                                               {"role", c.role},
                                                               {"active", ws.active_contact(c.id) != nullptr}})));
      clients = {c.client_id};
      roles = {c.role};
    } else if (e.type == event_type::policy_set || e.type == event_type::policy_removed) {
      const std::string scope(d.string_or("scope", ""));
      if (scope.starts_with("client:")) {
        clients = {scope.substr(7)};
      } else {
        for (const auto* model : {&before, &ws}) {
          for (const auto& [id, c] : model->clients) {
            if ("type:" + c.client_type == scope) clients.insert(id);
          }
        }
      }
      roles = {std::string(d.string_or("role", ""))};
      dbs = {std::string(d.string_or("database", ""))};
    }
    step.reproject_scope(before, clients, roles, dbs);
    return {};
  }

  if (e.type == event_type::session_ended) {
    kv.put(keys::session(w, d.string_or("session_id", "")), std::string(d.string_or("expires_at", "")));
    return {};
  }
  const WorkspaceState& ws = *current;
  const std::string db_key(d.string_or("database", ""));
  const std::string id(d.string_or("record_id", ""));
  const DatabaseDef* db = ws.database(db_key);
  if (e.type == event_type::record_created) {
    const Json* fields = d.find("fields");
    if (fields == nullptr || !fields->is_object()) return std::unexpected("record.created without fields");
    if (db == nullptr) return std::unexpected("record in an unknown database");
    if (kv.get(keys::canonical_record(w, db_key, id))) return std::unexpected("record created twice");
    const std::string at_text = format_timestamp(e.at);
    Json after(Json::Object{{"id", id},
                            {"version", static_cast<std::int64_t>(1)},
                            {"created_at", at_text},
                            {"updated_at", at_text},
                            {"fields", *fields},
                            {"order", keys::order_key(at.offset)}});
    Step step(ws, kv, e.at);
    step.write_internal(*db, std::nullopt, after);
    step.reproject_record(*db, std::nullopt, after);
  } else if (e.type == event_type::record_updated) {
    const Json* changes = d.find("changes");
    if (changes == nullptr || !changes->is_object()) return std::unexpected("record.updated without changes");
    auto before = db == nullptr ? std::nullopt : load_json(kv, keys::canonical_record(w, db_key, id));
    if (!before) return std::unexpected("update of an unknown record");
    if (static_cast<std::uint64_t>(before->find("version")->as_int()) + 1 != e.seq) {
      return std::unexpected("record.updated out of sequence");
    }
    Json after = *before;
    auto& obj = after.as_object();
    auto& fields = obj["fields"].as_object();
    for (const auto& [key, change] : changes->as_object()) {
      const Json* value = change.find("after");
      if (value == nullptr || value->is_null()) {
        fields.erase(key);
      } else {
        fields.insert_or_assign(key, *value);
      }
    }
    obj["version"] = static_cast<std::int64_t>(e.seq);
    obj["updated_at"] = format_timestamp(e.at);
    Step step(ws, kv, e.at);
    step.write_internal(*db, before, after);
    step.reproject_record(*db, before, after);
  } else if (e.type == event_type::record_deleted) {
    auto before = db == nullptr ? std::nullopt : load_json(kv, keys::canonical_record(w, db_key, id));
    if (!before) return std::unexpected("delete of an unknown record");
    Step step(ws, kv, e.at);
    step.write_internal(*db, before, std::nullopt);
    step.reproject_record(*db, before, std::nullopt);
  }
  return {};
}

}  // namespace projector
}  // namespace apexloop
