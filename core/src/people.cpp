// Decisions about people: internal users and their invitations, accepting any invitation, and the
// security events of sessions (ACCESS.md "Principals"). Tokens and passwords never reach these
// functions' outputs; a password is only checked for shape here.
#include <algorithm>

#include "apexloop/core/authz.hpp"
#include "apexloop/core/workspace.hpp"
#include "decide.hpp"

namespace apexloop {

using namespace decide;

namespace {

std::string user_stream(std::string_view id) { return "user/" + std::string(id); }

std::size_t active_admins(const WorkspaceState& ws) {
  return static_cast<std::size_t>(std::count_if(ws.users.begin(), ws.users.end(), [](const auto& kv) {
    return kv.second.active && kv.second.joined && kv.second.role == "admin";
  }));
}

}  // namespace

Decision decide_invite_user(const WorkspaceState& ws, const Json& body, const std::string& user_id,
                            TimestampMs expires_at) {
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  const Json* role = checked_invitee(body, errors);
  if (role == nullptr || !role->is_string() || !is_internal_role(role->as_string())) {
    errors.push_back({"role", "must be admin, member or auditor"});
  }
  if (!errors.empty()) return std::unexpected(invalid("the user is not valid", std::move(errors)));
  const std::string mail = lowercase_email(body.find("email")->as_string());
  if (email_taken(ws, mail)) return std::unexpected(conflict("someone in this workspace already has this e-mail"));
  return std::vector<Draft>{{std::string(event_type::user_invited), user_stream(user_id), 1,
                             Json(Json::Object{{"user_id", user_id},
                                               {"email", mail},
                                               {"name", *body.find("name")},
                                               {"role", *role},
                                               {"invitation_expires_at", format_timestamp(expires_at)}})}};
}

Decision decide_deactivate_user(const WorkspaceState& ws, std::string_view id) {
  auto it = ws.users.find(std::string(id));
  if (it == ws.users.end() || !it->second.active) return std::unexpected(not_found("no such user"));
  const UserState& u = it->second;
  // Nobody could add an admin again: the workspace would be locked for good.
  if (u.role == "admin" && u.joined && active_admins(ws) <= 1) {
    return std::unexpected(conflict("the workspace's last active admin cannot be deactivated"));
  }
  return std::vector<Draft>{{std::string(event_type::user_deactivated), user_stream(u.id), u.seq + 1,
                             Json(Json::Object{{"user_id", u.id}})}};
}

std::optional<SessionGrant> may_sign_in(const WorkspaceState& ws, std::string_view id) {
  if (const UserState* u = ws.active_user(id)) return SessionGrant{"user", u->id, u->role, ""};
  if (const ContactState* c = ws.active_contact(id); c != nullptr && c->joined) {
    return SessionGrant{"contact", c->id, c->role, c->client_id};
  }
  return std::nullopt;
}

std::optional<Invitee> open_invitation(const WorkspaceState& ws, std::string_view id, TimestampMs now) {
  if (auto it = ws.users.find(std::string(id)); it != ws.users.end()) {
    const UserState& u = it->second;
    if (u.joined || !u.active || u.invitation_expires_at <= now) return std::nullopt;
    return Invitee{{"user", u.id, u.role, ""}, u.email};
  }
  const ContactState* c = ws.active_contact(id);
  if (c == nullptr || c->joined || c->invitation_expires_at <= now) return std::nullopt;
  return Invitee{{"contact", c->id, c->role, c->client_id}, c->email};
}

Decision decide_accept_invitation(const WorkspaceState& ws, std::string_view id, const Json& body, TimestampMs now) {
  const auto invitee = open_invitation(ws, id, now);
  if (!invitee) return std::unexpected(not_found("no such invitation"));
  if (invitee->grant.kind == "contact") return decide_join(ws, id, body);
  if (!body.is_object()) return std::unexpected(invalid("the body must be a JSON object"));
  std::vector<FieldError> errors;
  unknown_members(body, {"name", "password"}, errors);
  const Json* name = body.find("name");
  if (name != nullptr && !is_valid_name(name)) errors.push_back({"name", "must be a non-empty string"});
  if (auto p = password_problem(body.find("password"))) errors.push_back({"password", *p});
  if (!errors.empty()) return std::unexpected(invalid("the answer is not valid", std::move(errors)));
  const UserState& u = ws.users.at(std::string(id));
  return std::vector<Draft>{{std::string(event_type::user_joined), user_stream(u.id), u.seq + 1,
                             Json(Json::Object{{"user_id", u.id}, {"name", name != nullptr ? *name : Json(u.name)}})}};
}

Draft session_started(const SessionGrant& who, const std::string& session_id, TimestampMs expires_at,
                      std::string_view method) {
  // Version 2 (events/upcast.hpp): the principal as one object, as the sessions API answers it.
  Json::Object principal{{"kind", who.kind}, {"id", who.id}, {"role", who.role}};
  if (!who.client_id.empty()) principal.emplace("client_id", who.client_id);
  Json::Object data{{"session_id", session_id},
                    {"principal", Json(std::move(principal))},
                    {"method", std::string(method)},
                    {"expires_at", format_timestamp(expires_at)}};
  return {std::string(event_type::session_started), "session/" + session_id, 1, Json(std::move(data))};
}

Draft signin_throttled(std::string_view email, int failures, TimestampMs locked_until, const std::string& episode_id) {
  return {std::string(event_type::signin_throttled), "signin/" + episode_id, 1,
          Json(Json::Object{{"email", lowercase_email(email)},
                            {"failures", static_cast<std::int64_t>(failures)},
                            {"locked_until", format_timestamp(locked_until)}})};
}

}  // namespace apexloop
