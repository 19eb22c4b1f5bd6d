#include "apexloop/core/workspace.hpp"

#include "apexloop/core/files.hpp"
#include "decide.hpp"

#include <algorithm>
#include <cctype>

namespace apexloop {

using namespace decide;

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

const PolicyEntry* WorkspaceState::effective_policy(const ClientState& client, std::string_view role,
                                                   std::string_view db) const {
  auto own = policies.find(PolicyKey{"client:" + client.id, std::string(role), std::string(db)});
  if (own != policies.end()) return &own->second;
  auto by_type = policies.find(PolicyKey{"type:" + client.client_type, std::string(role), std::string(db)});
  return by_type == policies.end() ? nullptr : &by_type->second;
}

const ClientState* WorkspaceState::active_client(std::string_view id) const {
  auto it = clients.find(id);
  return it == clients.end() || it->second.archived ? nullptr : &it->second;
}

const ContactState* WorkspaceState::active_contact(std::string_view id) const {
  auto it = contacts.find(id);
  if (it == contacts.end() || !it->second.active || active_client(it->second.client_id) == nullptr) return nullptr;
  return &it->second;
}

const UserState* WorkspaceState::active_user(std::string_view id) const {
  auto it = users.find(std::string(id));
  return it == users.end() || !it->second.active || !it->second.joined ? nullptr : &it->second;
}

PrincipalVars WorkspaceState::vars_of(const ContactState& contact, TimestampMs now) const {
  const ClientState* client = active_client(contact.client_id);
  return PrincipalVars{contact.id, contact.client_id, client != nullptr ? client->client_type : "", now};
}

bool WorkspaceState::database_exists(std::string_view db) const { return database(db) != nullptr; }

bool WorkspaceState::record_exists(std::string_view db, std::string_view id) const {
  return record(db, id) != nullptr;
}

const WorkspaceState* WriteModel::workspace(std::string_view id) const {
  auto it = workspaces_.find(id);
  return it == workspaces_.end() ? nullptr : &it->second;
}

bool WriteModel::references_blob(std::string_view sha256) const {
  return std::any_of(workspaces_.begin(), workspaces_.end(), [&](const auto& kv) { return kv.second.blob_refs.contains(sha256); });
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

  if (e.type == event_type::user_added || e.type == event_type::user_invited) {
    UserState u{std::string(d.string_or("user_id", "")), std::string(d.string_or("email", "")),
                std::string(d.string_or("name", "")), std::string(d.string_or("role", ""))};
    u.seq = e.seq;
    if (e.type == event_type::user_invited) {
      // The expiry is the event's: a replay decides exactly as the original did.
      auto expires = parse_timestamp(d.string_or("invitation_expires_at", ""));
      if (!expires) return std::unexpected("bad user.invited");
      u.joined = false;
      u.invitation_expires_at = *expires;
    }
    if (u.id.empty() || ws.users.contains(u.id)) return std::unexpected("bad " + e.type);
    ws.user_by_email[lowercase_email(u.email)] = u.id;
    ws.users.emplace(u.id, std::move(u));
  } else if (e.type == event_type::user_joined || e.type == event_type::user_deactivated) {
    auto it = ws.users.find(std::string(d.string_or("user_id", "")));
    if (it == ws.users.end()) return std::unexpected("event for an unknown user");
    if (e.type == event_type::user_joined) {
      it->second.joined = true;
      it->second.name = std::string(d.string_or("name", it->second.name));
    } else {
      it->second.active = false;
    }
    it->second.seq = e.seq;
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
      restamp(rec->second.stamps, key, Stamp{e.seq, e.at});  // a cleared field keeps its stamp
    }
    rec->second.version = e.seq;
    rec->second.updated_at = e.at;
  } else if (e.type == event_type::record_deleted) {
    auto rit = ws.records.find(d.string_or("database", ""));
    if (rit == ws.records.end() || rit->second.erase(std::string(d.string_or("record_id", ""))) == 0) {
      return std::unexpected("bad record.deleted");
    }
  } else if (e.type == event_type::client_type_defined) {
    ws.client_types.emplace(std::string(d.string_or("key", "")), std::string(d.string_or("name", "")));
  } else if (e.type == event_type::portal_role_defined) {
    ws.portal_roles.emplace(std::string(d.string_or("key", "")), std::string(d.string_or("name", "")));
  } else if (e.type == event_type::client_created) {
    ClientState c{std::string(d.string_or("client_id", "")), std::string(d.string_or("name", "")),
                  std::string(d.string_or("client_type", "")), false, e.seq};
    if (c.id.empty() || ws.clients.contains(c.id)) return std::unexpected("bad client.created");
    ws.clients.emplace(c.id, std::move(c));
  } else if (e.type == event_type::client_updated || e.type == event_type::client_archived) {
    auto it = ws.clients.find(d.string_or("client_id", ""));
    if (it == ws.clients.end()) return std::unexpected("event for an unknown client");
    if (e.type == event_type::client_archived) {
      it->second.archived = true;
    } else if (const Json* changes = d.find("changes"); changes != nullptr) {
      if (const Json* n = changes->find("name")) it->second.name = std::string(n->string_or("after", it->second.name));
      if (const Json* t = changes->find("client_type")) {
        it->second.client_type = std::string(t->string_or("after", it->second.client_type));
      }
    }
    it->second.seq = e.seq;
  } else if (e.type == event_type::contact_invited) {
    ContactState c;
    c.id = std::string(d.string_or("contact_id", ""));
    c.client_id = std::string(d.string_or("client_id", ""));
    c.email = std::string(d.string_or("email", ""));
    c.name = std::string(d.string_or("name", ""));
    c.role = std::string(d.string_or("role", ""));
    auto expires = parse_timestamp(d.string_or("invitation_expires_at", ""));
    c.invitation_expires_at = expires ? *expires : e.at;
    c.seq = e.seq;
    if (c.id.empty() || ws.contacts.contains(c.id)) return std::unexpected("bad contact.invited");
    ws.contacts.emplace(c.id, std::move(c));
  } else if (e.type == event_type::contact_joined || e.type == event_type::contact_deactivated) {
    auto it = ws.contacts.find(d.string_or("contact_id", ""));
    if (it == ws.contacts.end()) return std::unexpected("event for an unknown contact");
    if (e.type == event_type::contact_joined) {
      it->second.joined = true;
      it->second.name = std::string(d.string_or("name", it->second.name));
    } else {
      it->second.active = false;
    }
    it->second.seq = e.seq;
  } else if (e.type == event_type::policy_set || e.type == event_type::policy_removed) {
    PolicyKey key{std::string(d.string_or("scope", "")), std::string(d.string_or("role", "")),
                  std::string(d.string_or("database", ""))};
    if (e.type == event_type::policy_removed) {
      ws.policies.erase(key);
    } else {
      const DatabaseDef* db = ws.database(std::get<2>(key));
      const Json* body = d.find("policy");
      auto parsed = db != nullptr && body != nullptr ? parse_policy(*body, *db)
                                                     : std::unexpected(std::vector<FieldError>{});
      if (!parsed) return std::unexpected("bad policy.set");
      ws.policies.insert_or_assign(key, PolicyEntry{*body, std::move(*parsed), e.seq});
    }
    ws.policy_seqs[key] = e.seq;
  } else if (e.type == event_type::session_ended) {
    auto expires = parse_timestamp(d.string_or("expires_at", ""));
    ws.ended_sessions[std::string(d.string_or("session_id", ""))] = expires ? expires->ms : 0;
    // Sessions past their expiry are refused anyway; forget them so the set stays small.
    std::erase_if(ws.ended_sessions, [&](const auto& kv) { return kv.second < e.at.ms; });
  } else if (e.type == event_type::view_defined) {
    const std::tuple<std::string, std::string, std::string> key{
        std::string(d.string_or("scope", "")), std::string(d.string_or("database", "")), std::string(d.string_or("view", ""))};
    const DatabaseDef* db = ws.database(std::get<1>(key));
    auto view = db == nullptr ? std::nullopt : view_def_from_json(d, *db);
    if (!view) return std::unexpected("bad view.defined");
    ws.views.insert_or_assign(key, std::move(*view));
    ws.view_seqs[key] = e.seq;
  } else if (e.type == event_type::comment_added) {
    const std::string id(d.string_or("comment_id", ""));
    if (ws.comments.contains(id) || e.seq != 1) return std::unexpected("comment.added out of sequence");
    ws.comments.emplace(id, CommentState{id, std::string(d.string_or("database", "")), std::string(d.string_or("record_id", "")),
                                         e.actor.kind, e.actor.id, std::string(d.string_or("visibility", "")), e.seq, false});
  } else if (e.type == event_type::form_defined) {
    auto form = form_from_json(d);
    auto it = form ? ws.forms.find(form->key) : ws.forms.end();
    if (!form || e.seq != (it == ws.forms.end() ? 1 : it->second.seq + 1)) return std::unexpected("bad form.defined");
    form->seq = e.seq;
    ws.forms.insert_or_assign(form->key, std::move(*form));
  } else if (e.type == event_type::approval_requested) {
    const std::string id(d.string_or("approval_id", ""));
    if (ws.approvals.contains(id) || e.seq != 1) return std::unexpected("approval.requested out of sequence");
    ws.approvals.emplace(id, ApprovalState{id, std::string(d.string_or("database", "")), std::string(d.string_or("record_id", "")),
                                           "pending", e.seq});
  } else if (e.type == event_type::approval_decided) {
    auto it = ws.approvals.find(d.string_or("approval_id", ""));
    if (it == ws.approvals.end() || it->second.status != "pending" || it->second.seq + 1 != e.seq) {
      return std::unexpected("approval.decided out of sequence");
    }
    it->second.status = std::string(d.string_or("decision", ""));
    it->second.seq = e.seq;
  } else if (e.type == event_type::comment_edited || e.type == event_type::comment_deleted) {
    auto it = ws.comments.find(d.string_or("comment_id", ""));
    if (it == ws.comments.end() || it->second.deleted || it->second.seq + 1 != e.seq) {
      return std::unexpected(std::string(e.type) + " out of sequence");
    }
    it->second.seq = e.seq;
    it->second.deleted = e.type == event_type::comment_deleted;
  } else if (e.type == event_type::file_attached) {
    if (auto r = apply_file_attached(ws, e); !r) return r;
  } else if (e.type == event_type::file_removed) {
    if (auto r = apply_file_removed(ws, e); !r) return r;
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

namespace {

// A file column holds only files uploaded into that very record and column (the upload itself
// adds them): a write may keep or remove ids, never bring one in from elsewhere, so a file's
// attachment (what decides who may download it) cannot be moved by editing a record.
std::optional<CommandError> foreign_files(const WorkspaceState& ws, const DatabaseDef& db, std::string_view record_id,
                                          const Json::Object& fields) {
  std::vector<FieldError> errors;
  for (const auto& [key, value] : fields) {
    const ColumnDef* col = db.column(key);
    if (col == nullptr || col->type != ColumnType::file || !value.is_array()) continue;
    for (const auto& id : value.as_array()) {
      auto it = id.is_string() ? ws.files.find(id.as_string()) : ws.files.end();
      if (it == ws.files.end() || it->second.database != db.key || it->second.record_id != record_id || it->second.column != key) {
        errors.push_back({"fields." + key, "a file column holds only files uploaded to it; upload the file here"});
        break;
      }
    }
  }
  if (errors.empty()) return std::nullopt;
  return invalid("the record is not valid", std::move(errors));
}

}  // namespace

std::expected<CreateOutcome, CommandError> decide_create_record(
    const WorkspaceState& ws, std::string_view db_key, const Json& body, const std::string& record_id,
    const std::string& actor_id, const std::optional<std::string>& idempotency_key) {
  const DatabaseDef* db = ws.database(db_key);
  if (db == nullptr) return std::unexpected(not_found("no such database"));
  auto fields = checked_fields(ws, *db, body);
  if (!fields) return std::unexpected(std::move(fields.error()));
  erase_if(*fields, [](const auto& kv) { return kv.second.is_null(); });
  if (auto e = foreign_files(ws, *db, record_id, *fields)) return std::unexpected(std::move(*e));
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
  return update_against(ws, *db, *rec, body, if_match, rec->version);
}

Decision decide::update_against(const WorkspaceState& ws, const DatabaseDef& db, const RecordState& rec, const Json& body,
                                std::optional<std::uint64_t> if_match, std::uint64_t shown_version) {
  auto fields = checked_fields(ws, db, body);
  if (!fields) return std::unexpected(std::move(fields.error()));
  if (auto e = foreign_files(ws, db, rec.id, *fields)) return std::unexpected(std::move(*e));
  if (!if_match) {
    return std::unexpected(CommandError{CommandErrorKind::precondition_required,
                                        "send If-Match with the version you edited", {}});
  }
  if (*if_match != shown_version) {
    return std::unexpected(CommandError{CommandErrorKind::conflict,
                                        "the record changed since version " + std::to_string(*if_match),
                                        {}});
  }
  Json::Object changes;
  for (const auto& [key, after] : *fields) {
    auto cur = rec.fields.find(key);
    const Json before = cur == rec.fields.end() ? Json(nullptr) : cur->second;
    if (before != after) changes.emplace(key, Json(Json::Object{{"before", before}, {"after", after}}));
  }
  if (changes.empty()) return std::vector<Draft>{};
  return std::vector<Draft>{{std::string(event_type::record_updated), record_stream(db.key, rec.id),
                             rec.version + 1,
                             Json(Json::Object{{"database", db.key},
                                               {"record_id", rec.id},
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
