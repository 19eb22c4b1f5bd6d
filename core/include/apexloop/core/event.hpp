#pragma once
// The event envelope of ARCHITECTURE.md as a plain value. The wire format lives in events/.

#include <cstdint>
#include <string>
#include <string_view>

#include "apexloop/core/clock.hpp"
#include "apexloop/core/json.hpp"

namespace apexloop {

namespace event_type {
inline constexpr std::string_view workspace_created = "workspace.created";
inline constexpr std::string_view user_added = "user.added";
inline constexpr std::string_view database_defined = "database.defined";
inline constexpr std::string_view column_added = "column.added";
inline constexpr std::string_view record_created = "record.created";
inline constexpr std::string_view record_updated = "record.updated";
inline constexpr std::string_view record_deleted = "record.deleted";
inline constexpr std::string_view client_type_defined = "client_type.defined";
inline constexpr std::string_view portal_role_defined = "portal_role.defined";
inline constexpr std::string_view client_created = "client.created";
inline constexpr std::string_view client_updated = "client.updated";
inline constexpr std::string_view client_archived = "client.archived";
inline constexpr std::string_view contact_invited = "contact.invited";
inline constexpr std::string_view contact_joined = "contact.joined";
inline constexpr std::string_view contact_deactivated = "contact.deactivated";
inline constexpr std::string_view policy_set = "policy.set";
inline constexpr std::string_view policy_removed = "policy.removed";
inline constexpr std::string_view view_defined = "view.defined";
inline constexpr std::string_view session_ended = "session.ended";
inline constexpr std::string_view user_invited = "user.invited";
inline constexpr std::string_view user_joined = "user.joined";
inline constexpr std::string_view user_deactivated = "user.deactivated";
inline constexpr std::string_view session_started = "session.started";
inline constexpr std::string_view signin_throttled = "signin.throttled";
inline constexpr std::string_view comment_added = "comment.added";
inline constexpr std::string_view comment_edited = "comment.edited";
inline constexpr std::string_view comment_deleted = "comment.deleted";
inline constexpr std::string_view approval_requested = "approval.requested";
inline constexpr std::string_view approval_decided = "approval.decided";
inline constexpr std::string_view form_defined = "form.defined";
inline constexpr std::string_view file_attached = "file.attached";
inline constexpr std::string_view file_removed = "file.removed";
}  // namespace event_type

struct Actor {
  std::string kind;  // "user", "contact", "bootstrap", "system"
  std::string id;
  friend bool operator==(const Actor&, const Actor&) = default;
};

struct Envelope {
  std::string id;  // UUIDv7
  std::string type;
  int v = 1;
  std::string workspace;
  std::string stream;  // aggregate, e.g. record/<db>/<id>
  std::uint64_t seq = 0;
  TimestampMs at;
  Actor actor;
  std::string correlation;
  std::string causation;
  Json data;
  friend bool operator==(const Envelope&, const Envelope&) = default;
};

}  // namespace apexloop
