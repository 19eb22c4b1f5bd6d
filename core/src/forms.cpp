#include "apexloop/core/forms.hpp"

#include "decide.hpp"

namespace apexloop {

using namespace decide;

std::optional<FormDef> form_from_json(const Json& d) {
  FormDef f{std::string(d.string_or("key", "")), std::string(d.string_or("title", "")), std::string(d.string_or("database", "")),
            {}, {}, 0};
  const Json* fields = d.find("fields");
  const Json* types = d.find("client_types");
  if (fields == nullptr || !fields->is_array() || types == nullptr || !types->is_array()) return std::nullopt;
  for (const auto& x : fields->as_array()) {
    const Json* required = x.find("required");
    f.fields.push_back({std::string(x.string_or("column", "")), std::string(x.string_or("label", "")),
                        required != nullptr && required->is_bool() && required->as_bool()});
  }
  for (const auto& t : types->as_array()) {
    if (!t.is_string()) return std::nullopt;
    f.client_types.push_back(t.as_string());
  }
  return f;
}

Decision decide_define_form(const WorkspaceState& ws, const Commenter& who, const Json& body) {
  if (who.kind != "user") return std::unexpected(forbidden("forms are defined by the workspace's people"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"key", "title", "database", "fields", "client_types"}, errors);
  const std::string key(body.string_or("key", ""));
  if (!is_valid_key(key)) errors.push_back({"key", "must match ^[a-z][a-z0-9_]{0,62}$"});
  const Json* title = body.find("title");
  if (title == nullptr || !title->is_string() || title->as_string().empty() || title->as_string().size() > 200) {
    errors.push_back({"title", "must be a string of 1 to 200 bytes"});
  }
  const DatabaseDef* db = ws.database(body.string_or("database", ""));
  if (db == nullptr) errors.push_back({"database", "no such database"});
  Json::Array fields;
  const Json* given = body.find("fields");
  if (given == nullptr || !given->is_array() || given->as_array().empty() || given->as_array().size() > kMaxFormFields) {
    errors.push_back({"fields", "must be 1 to 50 {column, label, required}"});
  } else if (db != nullptr) {
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < given->as_array().size(); ++i) {
      const Json& f = given->as_array()[i];
      const std::string path = "fields[" + std::to_string(i) + "]";
      unknown_members(f, {"column", "label", "required"}, errors, path + ".");
      const ColumnDef* col = db->column(f.string_or("column", ""));
      const Json* label = f.find("label");
      const Json* required = f.find("required");
      if (col == nullptr || col->internal || col->type == ColumnType::client) {
        errors.push_back({path + ".column", "must name a column a client could be granted (not the owner)"});
      } else if (std::find(seen.begin(), seen.end(), col->key) != seen.end()) {
        errors.push_back({path + ".column", "named twice"});
      } else {
        seen.push_back(col->key);
      }
      if (label == nullptr || !label->is_string() || label->as_string().empty() || label->as_string().size() > 200) {
        errors.push_back({path + ".label", "must be a string of 1 to 200 bytes"});
      }
      if (required != nullptr && !required->is_bool()) errors.push_back({path + ".required", "must be a boolean"});
      if (col != nullptr && label != nullptr && label->is_string()) {
        fields.push_back(Json(Json::Object{{"column", col->key}, {"label", *label},
                                           {"required", required != nullptr && required->is_bool() && required->as_bool()}}));
      }
    }
  }
  Json::Array types;
  const Json* given_types = body.find("client_types");
  if (given_types == nullptr || !given_types->is_array() || given_types->as_array().empty()) {
    errors.push_back({"client_types", "must name at least one client type"});
  } else {
    for (const auto& t : given_types->as_array()) {
      if (!t.is_string() || !ws.client_types.contains(t.as_string())) {
        errors.push_back({"client_types", "no such client type"});
      } else if (std::find(types.begin(), types.end(), t) == types.end()) {
        types.push_back(t);
      }
    }
  }
  if (!errors.empty()) return std::unexpected(invalid("the form is not valid", std::move(errors)));
  auto it = ws.forms.find(key);
  Json::Object data{{"key", key}, {"title", *title}, {"database", db->key}, {"fields", Json(std::move(fields))},
                    {"client_types", Json(std::move(types))}};
  return std::vector<Draft>{{std::string(event_type::form_defined), "form/" + key, it == ws.forms.end() ? 1 : it->second.seq + 1,
                             Json(std::move(data))}};
}

std::expected<CreateOutcome, CommandError> decide_submit_form(const WorkspaceState& ws, const ContactState& contact,
                                                              std::string_view key, const Json& body,
                                                              const std::string& record_id, TimestampMs now) {
  auto it = ws.forms.find(key);
  const ClientState* client = ws.active_client(contact.client_id);
  const FormDef* form = it == ws.forms.end() || client == nullptr ? nullptr : &it->second;
  if (form != nullptr &&
      std::find(form->client_types.begin(), form->client_types.end(), client->client_type) == form->client_types.end()) {
    form = nullptr;  // a form for other clients is not there for this one
  }
  const DatabaseDef* db = form == nullptr ? nullptr : ws.database(form->database);
  if (db == nullptr) return std::unexpected(not_found("no such form"));
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"fields"}, errors);
  const Json* given = body.find("fields");
  if (given == nullptr || !given->is_object()) {
    errors.push_back({"fields", "must be an object of column key to value"});
    return std::unexpected(invalid("the submission is not valid", std::move(errors)));
  }
  const ColumnDef* owner = owner_column(*db);
  Json::Object fields;
  for (const auto& [k, v] : given->as_object()) {
    if (owner != nullptr && k == owner->key) continue;  // the submitter's client owns it, whatever is said
    const bool on_form = std::any_of(form->fields.begin(), form->fields.end(), [&](const FormField& f) { return f.column == k; });
    if (!on_form) {
      errors.push_back({"fields." + k, "not a field of this form"});
    } else if (!v.is_null()) {
      fields.emplace(k, v);
    }
  }
  for (const auto& f : form->fields) {
    if (f.required && !fields.contains(f.column)) errors.push_back({"fields." + f.column, "is required"});
  }
  if (!errors.empty()) return std::unexpected(invalid("the submission is not valid", std::move(errors)));
  return decide_contact_create_record(ws, contact, db->key, Json(Json::Object{{"fields", Json(std::move(fields))}}), record_id,
                                      std::nullopt, now);
}

}  // namespace apexloop
