#pragma once
// Helpers shared by the decision functions of the write model (internal to core).

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/core/workspace.hpp"

namespace apexloop::decide {


inline std::string record_stream(std::string_view db, std::string_view id) {
  return "record/" + std::string(db) + "/" + std::string(id);
}

inline CommandError invalid(std::string detail, std::vector<FieldError> errors = {}) {
  return {CommandErrorKind::invalid, std::move(detail), std::move(errors)};
}

inline CommandError not_found(std::string detail) { return {CommandErrorKind::not_found, std::move(detail), {}}; }

// Validates `{fields: {...}}` against the database: every key a column, every value valid.
inline std::expected<Json::Object, CommandError> checked_fields(const WorkspaceState& ws,
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


// An edit of `rec` by a caller shown version `shown_version` of it (the real version for
// internal users, the visible one for contacts, see stamps.hpp): If-Match must name that.
[[nodiscard]] Decision update_against(const WorkspaceState& ws, const DatabaseDef& db, const RecordState& rec,
                                      const Json& body, std::optional<std::uint64_t> if_match,
                                      std::uint64_t shown_version);

inline CommandError forbidden(std::string detail) { return {CommandErrorKind::forbidden, std::move(detail), {}}; }
inline CommandError conflict(std::string detail) { return {CommandErrorKind::conflict, std::move(detail), {}}; }

// Members of `body` other than `allowed` are errors.
inline void unknown_members(const Json& body, std::initializer_list<std::string_view> allowed,
                            std::vector<FieldError>& errors, const std::string& prefix = "") {
  if (!body.is_object()) return;
  for (const auto& [k, _] : body.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) errors.push_back({prefix + k, "unknown member"});
  }
}

// One e-mail signs in as one principal per workspace: an active user or contact holds it, and so
// does an invitation still waiting to be accepted.
inline bool email_taken(const WorkspaceState& ws, const std::string& mail) {
  const bool by_user = std::any_of(ws.users.begin(), ws.users.end(),
                                   [&](const auto& kv) { return kv.second.active && kv.second.email == mail; });
  const bool by_contact = std::any_of(ws.contacts.begin(), ws.contacts.end(),
                                      [&](const auto& kv) { return kv.second.active && kv.second.email == mail; });
  return by_user || by_contact;
}

// The part every invitation (a user's, a contact's) shares: `{email, name, role}` and nothing
// else, a valid e-mail and a name. The role is the caller's to check. Answers the role member.
inline const Json* checked_invitee(const Json& body, std::vector<FieldError>& errors) {
  unknown_members(body, {"email", "name", "role"}, errors);
  const Json* email = body.find("email");
  if (email == nullptr || !email->is_string() || !is_valid_email(email->as_string())) {
    errors.push_back({"email", "must be an e-mail address"});
  }
  if (!is_valid_name(body.find("name"))) errors.push_back({"name", "must be a non-empty string"});
  return body.find("role");
}

}  // namespace apexloop::decide
