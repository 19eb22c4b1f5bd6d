#include "apexloop/core/workspace.hpp"

#include <algorithm>
#include <cctype>

namespace apexloop {
namespace {

std::string record_stream(std::string_view db, std::string_view id) {
  return "record/" + std::string(db) + "/" + std::string(id);
}

CommandError invalid(std::string detail, std::vector<FieldError> errors = {}) {
  return {CommandErrorKind::invalid, std::move(detail), std::move(errors)};
}

CommandError not_found(std::string detail) { return {CommandErrorKind::not_found, std::move(detail), {}}; }

// Validates `{fields: {...}}` against the database: every key a column, every value valid.
std::expected<Json::Object, CommandError> checked_fields(const WorkspaceState& ws,
                                                         const DatabaseDef& db, const Json& body) {
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  for (const auto& [k, _] : body.as_object()) {
    if (k != "fields") errors.push_back({k, "unknown member"});
  }
  const Json* fields = body.find("fields");
  if (fields == nullptr || !fields->is_object()) {
    errors.push_back({"fields", "must be an object of column key to value"});
    return std::unexpected(invalid("the record is not valid", std::move(errors)));
  }
  Json::Object out;
  for (const auto& [key, value] : fields->as_object()) {
    const ColumnDef* col = db.column(key);
    if (col == nullptr) {
      errors.push_back({"fields." + key, "no such column"});
      continue;
    }
    auto normalized = normalize_value(*col, value, ws);
    if (!normalized) {
      errors.push_back({"fields." + key, normalized.error()});
    } else {
      out.emplace(key, std::move(*normalized));
    }
  }
  if (!errors.empty()) return std::unexpected(invalid("the record is not valid", std::move(errors)));
  return out;
}

}  // namespace

const DatabaseDef* WorkspaceState::database(std::string_view key) const {
  auto it = databases.find(key);
  return it == databases.end() ? nullptr : &it->second;
}

const RecordState* WorkspaceState::record(std::string_view db, std::string_view id) const {
  auto it = records.find(db);
  if (it == records.end()) return nullptr;
  auto rit = it->second.find(std::string(id));
  return rit == it->second.end() ? nullptr : &rit->second;
}

bool WorkspaceState::database_exists(std::string_view db) const { return database(db) != nullptr; }

bool WorkspaceState::record_exists(std::string_view db, std::string_view id) const {
  return record(db, id) != nullptr;
}

const WorkspaceState* WriteModel::workspace(std::string_view id) const {
  auto it = workspaces_.find(std::string(id));
  return it == workspaces_.end() ? nullptr : &it->second;
}

std::expected<void, std::string> WriteModel::apply(const Envelope& e, Position at) {
  const Json& d = e.data;
  if (e.type == event_type::workspace_created) {
    if (workspaces_.contains(e.workspace)) return std::unexpected("workspace created twice");
    WorkspaceState ws;
    ws.id = e.workspace;
    ws.name = std::string(d.string_or("name", ""));
    ws.last_position = at;
    workspaces_.emplace(e.workspace, std::move(ws));
    return {};
  }
  auto wit = workspaces_.find(e.workspace);
  if (wit == workspaces_.end()) return std::unexpected("event for an unknown workspace");
  WorkspaceState& ws = wit->second;
  if (at.partition == ws.last_position.partition && at.offset <= ws.last_position.offset) {
    return std::unexpected("event at or before the workspace's last position");
  }

  if (e.type == event_type::user_added) {
    UserState u{std::string(d.string_or("user_id", "")), std::string(d.string_or("email", "")),
                std::string(d.string_or("name", "")), std::string(d.string_or("role", ""))};
    if (u.id.empty() || ws.users.contains(u.id)) return std::unexpected("bad user.added");
    ws.user_by_email[lowercase_email(u.email)] = u.id;
    ws.users.emplace(u.id, std::move(u));
  } else if (e.type == event_type::database_defined) {
    std::string key(d.string_or("key", ""));
    if (key.empty() || ws.databases.contains(key)) return std::unexpected("bad database.defined");
    ws.databases.emplace(key, DatabaseDef{key, std::string(d.string_or("name", "")), {}});
    ws.records[key];
  } else if (e.type == event_type::column_added) {
    auto dit = ws.databases.find(d.string_or("database", ""));
    auto type = parse_column_type(d.string_or("type", ""));
    if (dit == ws.databases.end() || !type) return std::unexpected("bad column.added");
    ColumnDef c;
    c.key = std::string(d.string_or("key", ""));
    c.name = std::string(d.string_or("name", ""));
    c.type = *type;
    if (const Json* o = d.find("options"); o != nullptr && o->is_object()) c.options = *o;
    const Json* internal = d.find("internal");
    c.internal = internal != nullptr && internal->is_bool() && internal->as_bool();
    dit->second.columns.push_back(std::move(c));
  } else if (e.type == event_type::record_created) {
    auto rit = ws.records.find(d.string_or("database", ""));
    const Json* fields = d.find("fields");
    std::string id(d.string_or("record_id", ""));
    if (rit == ws.records.end() || fields == nullptr || !fields->is_object() || id.empty() ||
        rit->second.contains(id)) {
      return std::unexpected("bad record.created");
    }
    RecordState r{id, 1, e.at, e.at, fields->as_object()};
    if (const Json* key = d.find("idempotency_key"); key != nullptr && key->is_string()) {
      ws.idempotency[{e.actor.id, key->as_string()}] =
          IdempotentCreate{rit->first, id, r.fields, at};
    }
    rit->second.emplace(id, std::move(r));
  } else if (e.type == event_type::record_updated) {
    auto rit = ws.records.find(d.string_or("database", ""));
    const Json* changes = d.find("changes");
    if (rit == ws.records.end() || changes == nullptr || !changes->is_object()) {
      return std::unexpected("bad record.updated");
    }
    auto rec = rit->second.find(std::string(d.string_or("record_id", "")));
    if (rec == rit->second.end() || e.seq != rec->second.version + 1) {
      return std::unexpected("record.updated out of sequence");
    }
    for (const auto& [key, change] : changes->as_object()) {
      const Json* after = change.find("after");
      if (after == nullptr || after->is_null()) {
        rec->second.fields.erase(key);
      } else {
        rec->second.fields.insert_or_assign(key, *after);
      }
    }
    rec->second.version = e.seq;
    rec->second.updated_at = e.at;
  } else if (e.type == event_type::record_deleted) {
    auto rit = ws.records.find(d.string_or("database", ""));
    if (rit == ws.records.end() || rit->second.erase(std::string(d.string_or("record_id", ""))) == 0) {
      return std::unexpected("bad record.deleted");
    }
  }
  // Types this model does not know are facts for other consumers; they still advance the position.
  ws.last_position = at;
  return {};
}

std::string lowercase_email(std::string_view email) {
  std::string out(email);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<std::string> password_problem(const Json* password) {
  if (password == nullptr || !password->is_string()) return "must be a string";
  const auto& p = password->as_string();
  if (p.size() < kMinPasswordBytes) return "must be at least 10 characters";
  if (p.size() > kMaxPasswordBytes) return "must be at most 1024 bytes";
  return std::nullopt;
}

Decision decide_create_workspace(const Json& body, const std::string& workspace_id,
                                 const std::string& admin_id) {
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  for (const auto& [k, _] : body.as_object()) {
    if (k != "name" && k != "admin") errors.push_back({k, "unknown member"});
  }
  if (!is_valid_name(body.find("name"))) errors.push_back({"name", "must be a non-empty string"});
  const Json* admin = body.find("admin");
  if (admin == nullptr || !admin->is_object()) {
    errors.push_back({"admin", "must be an object {email, name, password}"});
  } else {
    for (const auto& [k, _] : admin->as_object()) {
      if (k != "email" && k != "name" && k != "password") errors.push_back({"admin." + k, "unknown member"});
    }
    const Json* email = admin->find("email");
    if (email == nullptr || !email->is_string() || !is_valid_email(email->as_string())) {
      errors.push_back({"admin.email", "must be an e-mail address"});
    }
    if (!is_valid_name(admin->find("name"))) errors.push_back({"admin.name", "must be a non-empty string"});
    if (auto p = password_problem(admin->find("password"))) errors.push_back({"admin.password", *p});
  }
  if (!errors.empty()) return std::unexpected(invalid("the workspace is not valid", std::move(errors)));
  std::vector<Draft> drafts;
  drafts.push_back({std::string(event_type::workspace_created), "workspace/" + workspace_id, 1,
                    Json(Json::Object{{"name", *body.find("name")}})});
  drafts.push_back({std::string(event_type::user_added), "user/" + admin_id, 1,
                    Json(Json::Object{{"user_id", admin_id},
                                      {"email", lowercase_email(admin->find("email")->as_string())},
                                      {"name", *admin->find("name")},
                                      {"role", "admin"}})});
  return drafts;
}

Decision decide_define_database(const WorkspaceState& ws, const Json& body) {
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  for (const auto& [k, _] : body.as_object()) {
    if (k != "key" && k != "name") errors.push_back({k, "unknown member"});
  }
  const Json* key = body.find("key");
  if (key == nullptr || !key->is_string() || !is_valid_key(key->as_string())) {
    errors.push_back({"key", "must match ^[a-z][a-z0-9_]{0,62}$"});
  }
  if (!is_valid_name(body.find("name"))) errors.push_back({"name", "must be a non-empty string"});
  if (!errors.empty()) return std::unexpected(invalid("the database is not valid", std::move(errors)));
  if (ws.database(key->as_string()) != nullptr) {
    return std::unexpected(CommandError{CommandErrorKind::conflict, "a database with this key exists", {}});
  }
  return std::vector<Draft>{{std::string(event_type::database_defined), "database/" + key->as_string(),
                             1, Json(Json::Object{{"key", *key}, {"name", *body.find("name")}})}};
}

Decision decide_add_column(const WorkspaceState& ws, std::string_view db_key, const Json& body) {
  const DatabaseDef* db = ws.database(db_key);
  if (db == nullptr) return std::unexpected(not_found("no such database"));
  auto col = validate_column_definition(body, *db, ws);
  if (!col) return std::unexpected(invalid("the column is not valid", std::move(col.error())));
  return std::vector<Draft>{{std::string(event_type::column_added), "database/" + db->key,
                             db->columns.size() + 2,
                             Json(Json::Object{{"database", db->key},
                                               {"key", col->key},
                                               {"name", col->name},
                                               {"type", std::string(to_string(col->type))},
                                               {"options", col->options},
                                               {"internal", col->internal}})}};
}

std::expected<CreateOutcome, CommandError> decide_create_record(
    const WorkspaceState& ws, std::string_view db_key, const Json& body, const std::string& record_id,
    const std::string& actor_id, const std::optional<std::string>& idempotency_key) {
  const DatabaseDef* db = ws.database(db_key);
  if (db == nullptr) return std::unexpected(not_found("no such database"));
  auto fields = checked_fields(ws, *db, body);
  if (!fields) return std::unexpected(std::move(fields.error()));
  std::erase_if(*fields, [](const auto& kv) { return kv.second.is_null(); });
  if (idempotency_key) {
    auto it = ws.idempotency.find({actor_id, *idempotency_key});
    if (it != ws.idempotency.end()) {
      if (it->second.database != db->key || it->second.fields != *fields) {
        return std::unexpected(invalid("this Idempotency-Key was used for a different request"));
      }
      return CreateOutcome{{}, it->second};
    }
  }
  Json::Object data{{"database", db->key}, {"record_id", record_id}, {"fields", Json(*fields)}};
  if (idempotency_key) data.emplace("idempotency_key", *idempotency_key);
  CreateOutcome out;
  out.drafts.push_back({std::string(event_type::record_created), record_stream(db->key, record_id), 1,
                        Json(std::move(data))});
  return out;
}

Decision decide_update_record(const WorkspaceState& ws, std::string_view db_key, std::string_view id,
                              const Json& body, std::optional<std::uint64_t> if_match) {
  const DatabaseDef* db = ws.database(db_key);
  const RecordState* rec = db == nullptr ? nullptr : ws.record(db_key, id);
  if (rec == nullptr) return std::unexpected(not_found("no such record"));
  auto fields = checked_fields(ws, *db, body);
  if (!fields) return std::unexpected(std::move(fields.error()));
  if (!if_match) {
    return std::unexpected(CommandError{CommandErrorKind::precondition_required,
                                        "send If-Match with the version you edited", {}});
  }
  if (*if_match != rec->version) {
    return std::unexpected(CommandError{CommandErrorKind::conflict,
                                        "the record changed since version " + std::to_string(*if_match),
                                        {}});
  }
  Json::Object changes;
  for (const auto& [key, after] : *fields) {
    auto cur = rec->fields.find(key);
    const Json before = cur == rec->fields.end() ? Json(nullptr) : cur->second;
    if (before != after) changes.emplace(key, Json(Json::Object{{"before", before}, {"after", after}}));
  }
  if (changes.empty()) return std::vector<Draft>{};
  return std::vector<Draft>{{std::string(event_type::record_updated), record_stream(db->key, rec->id),
                             rec->version + 1,
                             Json(Json::Object{{"database", db->key},
                                               {"record_id", rec->id},
                                               {"changes", Json(std::move(changes))}})}};
}

Decision decide_delete_record(const WorkspaceState& ws, std::string_view db_key, std::string_view id,
                              std::optional<std::uint64_t> if_match) {
  const RecordState* rec = ws.record(db_key, id);
  if (rec == nullptr) return std::unexpected(not_found("no such record"));
  if (if_match && *if_match != rec->version) {
    return std::unexpected(CommandError{CommandErrorKind::conflict,
                                        "the record changed since version " + std::to_string(*if_match),
                                        {}});
  }
  return std::vector<Draft>{{std::string(event_type::record_deleted), record_stream(db_key, rec->id),
                             rec->version + 1,
                             Json(Json::Object{{"database", std::string(db_key)}, {"record_id", rec->id}})}};
}

}  // namespace apexloop
