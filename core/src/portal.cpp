// Decisions for the portal side of the write model: client types, portal roles, clients,
// contacts, policies, and records written by client contacts (ACCESS.md).
#include <algorithm>

#include "apexloop/core/workspace.hpp"
#include "decide.hpp"

namespace apexloop {

using namespace decide;

namespace {

// `{key, name}` for client types and portal roles.
Decision define_keyed(const std::map<std::string, std::string, std::less<>>& existing, const Json& body,
                      std::string_view type, std::string_view stream_prefix, std::string_view what) {
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"key", "name"}, errors);
  const Json* key = body.find("key");
  if (key == nullptr || !key->is_string() || !is_valid_key(key->as_string())) {
    errors.push_back({"key", "must match ^[a-z][a-z0-9_]{0,62}$"});
  }
  if (!is_valid_name(body.find("name"))) errors.push_back({"name", "must be a non-empty string"});
  if (!errors.empty()) return std::unexpected(invalid("the " + std::string(what) + " is not valid", std::move(errors)));
  if (existing.contains(key->as_string())) return std::unexpected(conflict("a " + std::string(what) + " with this key exists"));
  return std::vector<Draft>{{std::string(type), std::string(stream_prefix) + key->as_string(), 1,
                             Json(Json::Object{{"key", *key}, {"name", *body.find("name")}})}};
}

std::string client_stream(std::string_view id) { return "client/" + std::string(id); }
std::string contact_stream(std::string_view id) { return "contact/" + std::string(id); }
std::string policy_stream(std::string_view scope, std::string_view role, std::string_view db) {
  return "policy/" + std::string(scope) + "/" + std::string(role) + "/" + std::string(db);
}

// `type:<client type>` or `client:<client id>`, naming something that exists.
std::optional<CommandError> check_scope(const WorkspaceState& ws, std::string_view scope) {
  if (scope.starts_with("type:")) {
    if (ws.client_types.contains(scope.substr(5))) return std::nullopt;
    return not_found("no such client type");
  }
  if (scope.starts_with("client:")) {
    if (ws.active_client(scope.substr(7)) != nullptr) return std::nullopt;
    return not_found("no such client");
  }
  return invalid("a scope is type:<client type> or client:<client id>");
}

// The policy as it is recorded: every flag spelled out, no null filters, columns deduplicated.
Json normalized_policy(const Json& body, const Policy& p) {
  auto columns = [](const std::vector<std::string>& cols) {
    Json::Array out;
    for (const auto& c : cols) out.emplace_back(c);
    return Json(std::move(out));
  };
  Json::Object read{{"columns", columns(p.read_columns)}};
  if (const Json* f = body.find("read")->find("filter"); f != nullptr && !f->is_null()) read.emplace("filter", *f);
  Json::Object out{{"read", Json(std::move(read))}, {"comment", p.comment}, {"approve", p.approve}};
  if (const Json* w = body.find("write"); w != nullptr) {
    Json::Object write{{"columns", columns(p.write_columns)}, {"create", p.create}};
    if (const Json* f = w->find("filter"); f != nullptr && !f->is_null()) write.emplace("filter", *f);
    out.emplace("write", Json(std::move(write)));
  }
  return Json(std::move(out));
}

}  // namespace

Decision decide_define_client_type(const WorkspaceState& ws, const Json& body) {
  return define_keyed(ws.client_types, body, event_type::client_type_defined, "client_type/", "client type");
}

Decision decide_define_portal_role(const WorkspaceState& ws, const Json& body) {
  return define_keyed(ws.portal_roles, body, event_type::portal_role_defined, "portal_role/", "portal role");
}

Decision decide_create_client(const WorkspaceState& ws, const Json& body, const std::string& client_id) {
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"name", "client_type"}, errors);
  if (!is_valid_name(body.find("name"))) errors.push_back({"name", "must be a non-empty string"});
  const Json* type = body.find("client_type");
  if (type == nullptr || !type->is_string() || !ws.client_types.contains(type->as_string())) {
    errors.push_back({"client_type", "must name a client type"});
  }
  if (!errors.empty()) return std::unexpected(invalid("the client is not valid", std::move(errors)));
  return std::vector<Draft>{{std::string(event_type::client_created), client_stream(client_id), 1,
                             Json(Json::Object{{"client_id", client_id}, {"name", *body.find("name")}, {"client_type", *type}})}};
}

Decision decide_update_client(const WorkspaceState& ws, std::string_view id, const Json& body) {
  const ClientState* client = ws.active_client(id);
  if (client == nullptr) return std::unexpected(not_found("no such client"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"name", "client_type"}, errors);
  Json::Object changes;
  if (const Json* name = body.find("name")) {
    if (!is_valid_name(name)) {
      errors.push_back({"name", "must be a non-empty string"});
    } else if (name->as_string() != client->name) {
      changes.emplace("name", Json(Json::Object{{"before", client->name}, {"after", *name}}));
    }
  }
  if (const Json* type = body.find("client_type")) {
    if (!type->is_string() || !ws.client_types.contains(type->as_string())) {
      errors.push_back({"client_type", "must name a client type"});
    } else if (type->as_string() != client->client_type) {
      changes.emplace("client_type", Json(Json::Object{{"before", client->client_type}, {"after", *type}}));
    }
  }
  if (!errors.empty()) return std::unexpected(invalid("the client is not valid", std::move(errors)));
  if (changes.empty()) return std::vector<Draft>{};
  return std::vector<Draft>{{std::string(event_type::client_updated), client_stream(id), client->seq + 1,
                             Json(Json::Object{{"client_id", client->id}, {"changes", Json(std::move(changes))}})}};
}

Decision decide_archive_client(const WorkspaceState& ws, std::string_view id) {
  const ClientState* client = ws.active_client(id);
  if (client == nullptr) return std::unexpected(not_found("no such client"));
  return std::vector<Draft>{{std::string(event_type::client_archived), client_stream(id), client->seq + 1,
                             Json(Json::Object{{"client_id", client->id}})}};
}

Decision decide_invite_contact(const WorkspaceState& ws, std::string_view client_id, const Json& body,
                               const std::string& contact_id, TimestampMs expires_at) {
  if (ws.active_client(client_id) == nullptr) return std::unexpected(not_found("no such client"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  const Json* role = checked_invitee(body, errors);
  if (role == nullptr || !role->is_string() || !ws.portal_roles.contains(role->as_string())) {
    errors.push_back({"role", "must name a portal role"});
  }
  if (!errors.empty()) return std::unexpected(invalid("the contact is not valid", std::move(errors)));
  const std::string mail = lowercase_email(body.find("email")->as_string());
  if (email_taken(ws, mail)) return std::unexpected(conflict("someone in this workspace already has this e-mail"));
  return std::vector<Draft>{{std::string(event_type::contact_invited), contact_stream(contact_id), 1,
                             Json(Json::Object{{"contact_id", contact_id},
                                               {"client_id", std::string(client_id)},
                                               {"email", mail},
                                               {"name", *body.find("name")},
                                               {"role", *role},
                                               {"invitation_expires_at", format_timestamp(expires_at)}})}};
}

Decision decide_join(const WorkspaceState& ws, std::string_view contact_id, const Json& body) {
  const ContactState* contact = ws.active_contact(contact_id);
  if (contact == nullptr || contact->joined) return std::unexpected(not_found("no such invitation"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"name", "password"}, errors);
  if (body.find("name") != nullptr && !is_valid_name(body.find("name"))) {
    errors.push_back({"name", "must be a non-empty string"});
  }
  if (auto p = password_problem(body.find("password"))) errors.push_back({"password", *p});
  if (!errors.empty()) return std::unexpected(invalid("the answer is not valid", std::move(errors)));
  const Json* name = body.find("name");
  return std::vector<Draft>{{std::string(event_type::contact_joined), contact_stream(contact_id), contact->seq + 1,
                             Json(Json::Object{{"contact_id", contact->id},
                                               {"name", name != nullptr ? *name : Json(contact->name)}})}};
}

Decision decide_deactivate_contact(const WorkspaceState& ws, std::string_view id) {
  const ContactState* contact = ws.active_contact(id);
  if (contact == nullptr) return std::unexpected(not_found("no such contact"));
  return std::vector<Draft>{{std::string(event_type::contact_deactivated), contact_stream(id), contact->seq + 1,
                             Json(Json::Object{{"contact_id", contact->id}})}};
}

Decision decide_set_policy(const WorkspaceState& ws, std::string_view scope, std::string_view role,
                           std::string_view db_key, const Json& body) {
  if (auto e = check_scope(ws, scope)) return std::unexpected(*e);
  if (!ws.portal_roles.contains(role)) return std::unexpected(not_found("no such portal role"));
  const DatabaseDef* db = ws.database(db_key);
  if (db == nullptr) return std::unexpected(not_found("no such database"));
  auto policy = parse_policy(body, *db);
  if (!policy) return std::unexpected(invalid("the policy is not valid", std::move(policy.error())));
  auto it = ws.policy_seqs.find(PolicyKey{std::string(scope), std::string(role), std::string(db_key)});
  const std::uint64_t seq = it == ws.policy_seqs.end() ? 1 : it->second + 1;
  return std::vector<Draft>{{std::string(event_type::policy_set), policy_stream(scope, role, db_key), seq,
                             Json(Json::Object{{"scope", std::string(scope)},
                                               {"role", std::string(role)},
                                               {"database", std::string(db_key)},
                                               {"policy", normalized_policy(body, *policy)}})}};
}

std::optional<ViewDef> view_def_from_json(const Json& definition, const DatabaseDef& db) {
  ViewDef view;
  const Json* columns = definition.find("columns");
  if (columns == nullptr || !columns->is_array()) return std::nullopt;
  for (const auto& c : columns->as_array()) {
    if (!c.is_string()) return std::nullopt;
    view.columns.push_back(c.as_string());
  }
  std::vector<std::string> grantable;
  for (const auto& c : db.columns) {
    if (!c.internal) grantable.push_back(c.key);
  }
  if (const Json* f = definition.find("filter"); f != nullptr && !f->is_null()) {
    auto parsed = parse_filter(*f, db, "filter", grantable);
    if (!parsed) return std::nullopt;
    view.filter = std::move(*parsed);
  }
  if (const Json* sort = definition.find("sort"); sort != nullptr && sort->is_array()) {
    for (const auto& k : sort->as_array()) {
      view.sort.push_back({std::string(k.string_or("field", "")), k.string_or("dir", "asc") == "desc"});
    }
  }
  if (const Json* limit = definition.find("limit"); limit != nullptr && limit->is_int()) view.limit = limit->as_int();
  return view;
}

Decision decide_define_view(const WorkspaceState& ws, std::string_view scope, std::string_view db_key,
                            std::string_view view, const Json& body) {
  if (auto e = check_scope(ws, scope)) return std::unexpected(*e);
  const DatabaseDef* db = ws.database(db_key);
  if (db == nullptr) return std::unexpected(not_found("no such database"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  if (!is_valid_key(view)) errors.push_back({"view", "must match ^[a-z][a-z0-9_]{0,62}$"});
  unknown_members(body, {"columns", "filter", "sort", "limit"}, errors);
  std::vector<std::string> columns;
  const Json* cols = body.find("columns");
  if (cols == nullptr || !cols->is_array()) {
    errors.push_back({"columns", "must be an array of column keys"});
  } else {
    for (const auto& c : cols->as_array()) {
      const ColumnDef* col = c.is_string() ? db->column(c.as_string()) : nullptr;
      if (col == nullptr || col->internal) {
        errors.push_back({"columns", "must name columns clients can be granted"});
      } else if (std::find(columns.begin(), columns.end(), col->key) == columns.end()) {
        columns.push_back(col->key);
      }
    }
  }
  // The filter and sort may use any column a client could be granted; what a contact cannot read
  // is simply absent from its rows when the view is applied, so nothing leaks through them.
  std::vector<std::string> grantable;
  for (const auto& c : db->columns) {
    if (!c.internal) grantable.push_back(c.key);
  }
  Json::Object data{{"scope", std::string(scope)}, {"database", db->key}, {"view", std::string(view)}};
  Json::Array col_json;
  for (const auto& c : columns) col_json.emplace_back(c);
  data.emplace("columns", Json(std::move(col_json)));
  if (const Json* f = body.find("filter"); f != nullptr && !f->is_null()) {
    if (auto parsed = parse_filter(*f, *db, "filter", grantable); !parsed) {
      errors.insert(errors.end(), parsed.error().begin(), parsed.error().end());
    } else {
      data.emplace("filter", *f);
    }
  }
  if (const Json* sort = body.find("sort"); sort != nullptr) {
    bool ok = sort->is_array() && sort->as_array().size() <= 4;
    for (std::size_t i = 0; ok && i < sort->as_array().size(); ++i) {
      const Json& k = sort->as_array()[i];
      const std::string field(k.string_or("field", ""));
      const std::string dir(k.string_or("dir", ""));
      const bool system = field == "id" || field == "version" || field == "created_at" || field == "updated_at";
      ok = k.is_object() && k.as_object().size() == 2 && (dir == "asc" || dir == "desc") &&
           (system || std::find(grantable.begin(), grantable.end(), field) != grantable.end());
    }
    if (!ok) {
      errors.push_back({"sort", "up to 4 {field, dir: asc|desc} naming non-internal columns or system fields"});
    } else {
      data.emplace("sort", *sort);
    }
  }
  if (const Json* limit = body.find("limit"); limit != nullptr) {
    if (!limit->is_int() || limit->as_int() < 1 || limit->as_int() > 500) {
      errors.push_back({"limit", "must be an integer from 1 to 500"});
    } else {
      data.emplace("limit", *limit);
    }
  }
  if (!errors.empty()) return std::unexpected(invalid("the view is not valid", std::move(errors)));
  auto it = ws.view_seqs.find({std::string(scope), db->key, std::string(view)});
  return std::vector<Draft>{{std::string(event_type::view_defined),
                             "view/" + std::string(scope) + "/" + db->key + "/" + std::string(view),
                             it == ws.view_seqs.end() ? 1 : it->second + 1, Json(std::move(data))}};
}

Decision decide_end_session(const WorkspaceState& ws, const std::string& session_id, const Actor& principal,
                            TimestampMs expires_at) {
  if (!is_uuid(session_id)) return std::unexpected(invalid("not a session"));
  if (ws.ended_sessions.contains(session_id)) return std::unexpected(not_found("no such session"));
  // seq 2: session.started is the stream's first event.
  return std::vector<Draft>{{std::string(event_type::session_ended), "session/" + session_id, 2,
                             Json(Json::Object{{"session_id", session_id},
                                               {"principal_id", principal.id},
                                               {"kind", principal.kind},
                                               {"expires_at", format_timestamp(expires_at)},
                                               {"reason", "logout"}})}};
}

Decision decide_remove_policy(const WorkspaceState& ws, std::string_view scope, std::string_view role,
                              std::string_view db) {
  const PolicyKey key{std::string(scope), std::string(role), std::string(db)};
  if (!ws.policies.contains(key)) return std::unexpected(not_found("no such policy"));
  return std::vector<Draft>{{std::string(event_type::policy_removed), policy_stream(scope, role, db), ws.policy_seqs.at(key) + 1,
                             Json(Json::Object{{"scope", std::string(scope)},
                                               {"role", std::string(role)},
                                               {"database", std::string(db)}})}};
}

namespace {

// Any key outside the writable columns, hidden or not, is the same 403: a contact cannot tell
// a column it may not write from one that does not exist.
std::optional<CommandError> only_writable(const Policy& p, const Json& body) {
  const Json* fields = body.find("fields");
  if (!body.is_object() || fields == nullptr || !fields->is_object()) return std::nullopt;  // checked_fields says 422
  for (const auto& [k, _] : fields->as_object()) {
    if (std::find(p.write_columns.begin(), p.write_columns.end(), k) == p.write_columns.end()) {
      return forbidden("you may not write some of these fields");
    }
  }
  return std::nullopt;
}

}  // namespace

std::expected<CreateOutcome, CommandError> decide_contact_create_record(
    const WorkspaceState& ws, const ContactState& contact, std::string_view db_key, const Json& body,
    const std::string& record_id, const std::optional<std::string>& idempotency_key, TimestampMs now) {
  const ClientState* client = ws.active_client(contact.client_id);
  const DatabaseDef* db = ws.database(db_key);
  const PolicyEntry* entry = client == nullptr || db == nullptr ? nullptr : ws.effective_policy(*client, contact.role, db_key);
  if (entry == nullptr) return std::unexpected(not_found("no such database"));
  if (!entry->policy.create) return std::unexpected(forbidden("you may not create records here"));
  if (auto denied = only_writable(entry->policy, body)) return std::unexpected(*denied);
  // The owner is set here, from the session, whatever the body says.
  Json owned = body;
  if (owned.is_object()) {
    if (const Json* f = owned.find("fields"); f != nullptr && f->is_object()) {
      owned.as_object()["fields"].as_object()[owner_column(*db)->key] = contact.client_id;
    }
  }
  auto outcome = decide_create_record(ws, db_key, owned, record_id, contact.id, idempotency_key);
  if (!outcome || outcome->replayed) return outcome;
  const Json& fields = *outcome->drafts.front().data.find("fields");
  const RecordView after{fields.as_object(), record_id, 1, format_timestamp(now), format_timestamp(now)};
  if (!may_read(entry->policy, *db, after, ws.vars_of(contact, now))) {
    return std::unexpected(forbidden("the record would not be visible to you"));
  }
  return outcome;
}

Stamp visible_stamp(const RecordState& r, const Policy& p, const DatabaseDef& db) {
  return visible_stamp(r, [&](std::string_view key) { return readable_column(p, db, key); });
}

SeenRecord seen_record(const RecordState& r, const Policy& p, const DatabaseDef& db) {
  const Stamp stamp = visible_stamp(r, p, db);
  return SeenRecord{r, stamp, format_timestamp(r.created_at), format_timestamp(stamp.at)};
}

std::optional<std::uint64_t> contact_version(const WorkspaceState& ws, const ContactState& contact, std::string_view db_key,
                                             std::string_view id) {
  const ClientState* client = ws.active_client(contact.client_id);
  const DatabaseDef* db = ws.database(db_key);
  const PolicyEntry* entry = client == nullptr || db == nullptr ? nullptr : ws.effective_policy(*client, contact.role, db_key);
  const RecordState* rec = entry == nullptr ? nullptr : ws.record(db_key, id);
  if (rec == nullptr) return std::nullopt;
  return visible_stamp(*rec, entry->policy, *db).version;
}

Decision decide_contact_update_record(const WorkspaceState& ws, const ContactState& contact, std::string_view db_key,
                                      std::string_view id, const Json& body, std::optional<std::uint64_t> if_match,
                                      TimestampMs now) {
  const ClientState* client = ws.active_client(contact.client_id);
  const DatabaseDef* db = ws.database(db_key);
  const PolicyEntry* entry = client == nullptr || db == nullptr ? nullptr : ws.effective_policy(*client, contact.role, db_key);
  const RecordState* rec = entry == nullptr ? nullptr : ws.record(db_key, id);
  const PrincipalVars vars = ws.vars_of(contact, now);
  if (rec == nullptr) return std::unexpected(not_found("no such record"));
  // The contact's filters see the record as it is shown to the contact (stamps.hpp).
  const SeenRecord seen = seen_record(*rec, entry->policy, *db);
  if (!may_read(entry->policy, *db, seen.view(), vars)) return std::unexpected(not_found("no such record"));
  if (auto denied = only_writable(entry->policy, body)) return std::unexpected(*denied);
  auto drafts = update_against(ws, *db, *rec, body, if_match, seen.stamp.version);
  if (!drafts || drafts->empty()) return drafts;
  Json::Object after_fields = rec->fields;
  Json::Object changed;
  for (const auto& [k, change] : drafts->front().data.find("changes")->as_object()) {
    const Json* after = change.find("after");
    if (after == nullptr || after->is_null()) {
      after_fields.erase(k);
    } else {
      after_fields.insert_or_assign(k, *after);
    }
    changed.emplace(k, change);
  }
  // Every column it may write it may read, so its own edit is one it sees: the real new version.
  const RecordView after{after_fields, rec->id, rec->version + 1, seen.created_at, format_timestamp(now)};
  if (auto denial = check_edit(entry->policy, *db, seen.view(), changed, after, vars)) {
    switch (*denial) {
      case WriteDenial::not_visible: return std::unexpected(not_found("no such record"));
      case WriteDenial::write_filter_fails: return std::unexpected(forbidden("you may not edit this record now"));
      case WriteDenial::column_not_writable: return std::unexpected(forbidden("you may not write some of these fields"));
      case WriteDenial::would_leave_view: return std::unexpected(forbidden("the edit would take the record out of your view"));
    }
  }
  return drafts;
}

}  // namespace apexloop
