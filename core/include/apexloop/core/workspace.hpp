#pragma once
// The write model: the state a command is validated against, folded from the log by `apply`,
// and the pure decisions that turn a request body into the events to append.

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apexloop/core/access.hpp"
#include "apexloop/core/event.hpp"
#include "apexloop/core/ids.hpp"
#include "apexloop/core/schema.hpp"
#include "apexloop/core/stamps.hpp"

namespace apexloop {

struct RecordState {
  std::string id;
  std::uint64_t version = 0;
  TimestampMs created_at;
  TimestampMs updated_at;
  Json::Object fields;  // only columns that hold a value
  FieldStamps stamps;   // the last change of each field changed since creation (stamps.hpp)
};

// The version and time a reader of the columns `readable(key)` is shown for `r` (stamps.hpp).
template <typename Readable>
[[nodiscard]] Stamp visible_stamp(const RecordState& r, Readable&& readable) {
  const FieldStamp* last = last_visible_change(r.stamps, readable);
  return last != nullptr ? last->stamp : Stamp{1, r.created_at};
}
// The same for a contact under policy `p`: the owner column and `p`'s read columns.
[[nodiscard]] Stamp visible_stamp(const RecordState& r, const Policy& p, const DatabaseDef& db);

// A record as a contact under policy `p` sees it, for the filters that decide its reads and
// writes: the record's fields with the version and updated_at it is shown.
struct SeenRecord {
  const RecordState& record;
  Stamp stamp;
  std::string created_at;
  std::string updated_at;
  [[nodiscard]] RecordView view() const { return {record.fields, record.id, stamp.version, created_at, updated_at}; }
};
[[nodiscard]] SeenRecord seen_record(const RecordState& r, const Policy& p, const DatabaseDef& db);

struct UserState {
  std::string id;
  std::string email;
  std::string name;
  std::string role;  // admin, member, auditor
  bool joined = true;  // false while an invitation (user.invited) is open
  bool active = true;
  TimestampMs invitation_expires_at;
  std::uint64_t seq = 0;
};

struct ClientState {
  std::string id;
  std::string name;
  std::string client_type;
  bool archived = false;
  std::uint64_t seq = 0;
};

struct ContactState {
  std::string id;
  std::string client_id;
  std::string email;
  std::string name;
  std::string role;  // portal role key
  bool joined = false;
  bool active = true;
  TimestampMs invitation_expires_at;
  std::uint64_t seq = 0;
};

// A policy as set: its body (kept verbatim for the log and the read models) and its parsed form.
struct PolicyEntry {
  Json body;
  Policy policy;
  std::uint64_t seq = 0;
};
// A named view (view.defined): the columns it shows, a filter that narrows the reader's own rows,
// its sort keys and its page size.
struct ViewDef {
  struct SortKey {
    std::string field;  // a column or a system field
    bool descending = false;
  };
  std::vector<std::string> columns;
  std::optional<Filter> filter;
  std::vector<SortKey> sort;
  std::optional<std::int64_t> limit;
};
// A view definition as stored in the event, checked against `db`; nullopt when it does not fit.
[[nodiscard]] std::optional<ViewDef> view_def_from_json(const Json& definition, const DatabaseDef& db);

// A comment on a record: `client` visibility is shown to the contacts who see the record;
// `internal` (an internal note) only ever to the workspace's users.
struct CommentState {
  std::string id;
  std::string database;
  std::string record_id;
  std::string author_kind;  // "user" or "contact"
  std::string author_id;
  std::string visibility;
  std::uint64_t seq = 0;
  bool deleted = false;
  std::size_t files = 0;  // live files attached to it (file.attached with its comment_id)
};

// A request for a client's decision on a record (a design, a deliverable, a contract).
struct ApprovalState {
  std::string id;
  std::string database;
  std::string record_id;
  std::string status;  // pending, approved, rejected, changes_requested
  std::uint64_t seq = 0;
};

// An intake form: for the contacts of some client types, a set of a database's columns with
// labels and required flags. A submission creates a record like the contact's own create.
struct FormField {
  std::string column;
  std::string label;
  bool required = false;
};
struct FormDef {
  std::string key;
  std::string title;
  std::string database;
  std::vector<FormField> fields;
  std::vector<std::string> client_types;
  std::uint64_t seq = 0;
};
// A form as stored in its event, or nullopt when it does not fit `ws`.
[[nodiscard]] std::optional<FormDef> form_from_json(const Json& data);
// A file attached to a record, in a file column or to a comment (file.attached): metadata only,
// the bytes live in the blob store under `sha256`. A removed file (file.removed) stays here so
// its id is never attached again, but nothing refers to it any more.
struct FileState {
  std::string id;
  std::string database;
  std::string record_id;
  std::string column;      // a file column's key, or empty for a comment's file
  std::string comment_id;  // the comment it is attached to, or empty for a column's file
  std::string sha256;
  Actor uploader;
  std::uint64_t seq = 0;
  bool removed = false;
};

// (scope, role, database); scope is `type:<client type>` or `client:<client id>`.
using PolicyKey = std::tuple<std::string, std::string, std::string>;

// What a create with an Idempotency-Key produced, so a retry answers the same.
struct IdempotentCreate {
  std::string database;
  std::string record_id;
  Json::Object fields;
  Position position;
};

class WorkspaceState final : public RefResolver {
 public:
  std::string id;
  std::string name;
  std::map<std::string, UserState> users;
  std::map<std::string, std::string> user_by_email;  // lowercased e-mail -> user id
  std::map<std::string, DatabaseDef, std::less<>> databases;
  std::map<std::string, std::unordered_map<std::string, RecordState>, std::less<>> records;
  std::map<std::pair<std::string, std::string>, IdempotentCreate> idempotency;  // (actor, key)
  std::map<std::string, std::string, std::less<>> client_types;  // key -> name
  std::map<std::string, std::string, std::less<>> portal_roles;  // key -> name
  std::map<std::string, ClientState, std::less<>> clients;
  std::map<std::string, ContactState, std::less<>> contacts;
  std::map<PolicyKey, PolicyEntry> policies;
  std::map<PolicyKey, std::uint64_t> policy_seqs;  // outlives a removal: a stream's seq only grows
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> view_seqs;  // (scope, db, view)
  std::map<std::tuple<std::string, std::string, std::string>, ViewDef> views;            // (scope, db, view)
  std::map<std::string, CommentState, std::less<>> comments;
  std::map<std::string, ApprovalState, std::less<>> approvals;
  std::map<std::string, FormDef, std::less<>> forms;
  std::map<std::string, FileState, std::less<>> files;
  std::map<std::string, std::size_t, std::less<>> blob_refs;  // sha256 -> live files with those bytes
  std::map<std::string, std::int64_t, std::less<>> ended_sessions;  // session id -> its expiry (ms)
  Position last_position;

  // A client's own policy replaces its type's policy for that (role, database).
  [[nodiscard]] const PolicyEntry* effective_policy(const ClientState& client, std::string_view role,
                                                    std::string_view db) const;
  [[nodiscard]] const ClientState* active_client(std::string_view id) const;
  [[nodiscard]] const ContactState* active_contact(std::string_view id) const;
  // A user that has joined and is not deactivated.
  [[nodiscard]] const UserState* active_user(std::string_view id) const;
  // The contact's variables for filters, at `now`.
  [[nodiscard]] PrincipalVars vars_of(const ContactState& contact, TimestampMs now) const;

  [[nodiscard]] const DatabaseDef* database(std::string_view key) const;
  [[nodiscard]] const RecordState* record(std::string_view db, std::string_view id) const;

  [[nodiscard]] bool database_exists(std::string_view db) const override;
  [[nodiscard]] bool record_exists(std::string_view db, std::string_view id) const override;
  // Clients, contacts and files join the model with their own events; until then none exist,
  // so a reference to one is refused rather than trusted.
  [[nodiscard]] bool client_exists(std::string_view id) const override { return active_client(id) != nullptr; }
  [[nodiscard]] bool contact_exists(std::string_view id) const override { return active_contact(id) != nullptr; }
  // A file the log attached (file.attached) and did not remove; nothing else is trusted as one.
  [[nodiscard]] bool file_exists(std::string_view id) const override {
    auto it = files.find(id);
    return it != files.end() && !it->second.removed;
  }
};

class WriteModel {
 public:
  // Folds one event in. An error means the event contradicts the model (an invariant of the log
  // broke); the caller logs it and the model is left unchanged.
  [[nodiscard]] std::expected<void, std::string> apply(const Envelope& e, Position at);
  [[nodiscard]] const WorkspaceState* workspace(std::string_view id) const;
  [[nodiscard]] std::size_t workspace_count() const { return workspaces_.size(); }
  // Whether a live file of any workspace holds the bytes with this SHA-256 (the blob sweep asks).
  [[nodiscard]] bool references_blob(std::string_view sha256) const;

 private:
  // Looked up by a view of the id, without copying it (every event of a replay asks).
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  std::unordered_map<std::string, WorkspaceState, IdHash, std::equal_to<>> workspaces_;
};

// An event yet to be given its id, time, actor and position.
struct Draft {
  std::string type;
  std::string stream;
  std::uint64_t seq = 0;
  Json data;
};

enum class CommandErrorKind { invalid, not_found, conflict, precondition_required, forbidden };
struct CommandError {
  CommandErrorKind kind = CommandErrorKind::invalid;
  std::string detail;
  std::vector<FieldError> errors;
};

using Decision = std::expected<std::vector<Draft>, CommandError>;

inline constexpr std::size_t kMinPasswordBytes = 10;
inline constexpr std::size_t kMaxPasswordBytes = 1024;
[[nodiscard]] std::optional<std::string> password_problem(const Json* password);
[[nodiscard]] std::string lowercase_email(std::string_view email);

// `{name, admin: {email, name, password}}`; the password is checked here but never enters an event.
[[nodiscard]] Decision decide_create_workspace(const Json& body, const std::string& workspace_id,
                                               const std::string& admin_id);
[[nodiscard]] Decision decide_define_database(const WorkspaceState& ws, const Json& body);
[[nodiscard]] Decision decide_add_column(const WorkspaceState& ws, std::string_view db,
                                         const Json& body);

struct CreateOutcome {
  std::vector<Draft> drafts;                // empty when the create is a retry
  std::optional<IdempotentCreate> replayed;  // the first result of a retried create
};
[[nodiscard]] std::expected<CreateOutcome, CommandError> decide_create_record(
    const WorkspaceState& ws, std::string_view db, const Json& body, const std::string& record_id,
    const std::string& actor_id, const std::optional<std::string>& idempotency_key);
// No drafts means the edit changes nothing: no event, same version.
[[nodiscard]] Decision decide_update_record(const WorkspaceState& ws, std::string_view db,
                                            std::string_view id, const Json& body,
                                            std::optional<std::uint64_t> if_match);
// ---- clients, contacts, roles, policies (ACCESS.md) ----
[[nodiscard]] Decision decide_define_client_type(const WorkspaceState& ws, const Json& body);
[[nodiscard]] Decision decide_define_portal_role(const WorkspaceState& ws, const Json& body);
[[nodiscard]] Decision decide_create_client(const WorkspaceState& ws, const Json& body, const std::string& client_id);
[[nodiscard]] Decision decide_update_client(const WorkspaceState& ws, std::string_view id, const Json& body);
[[nodiscard]] Decision decide_archive_client(const WorkspaceState& ws, std::string_view id);
[[nodiscard]] Decision decide_invite_contact(const WorkspaceState& ws, std::string_view client_id, const Json& body,
                                             const std::string& contact_id, TimestampMs expires_at);
// `{name, password}`: the password is checked here and never enters an event.
[[nodiscard]] Decision decide_join(const WorkspaceState& ws, std::string_view contact_id, const Json& body);
[[nodiscard]] Decision decide_deactivate_contact(const WorkspaceState& ws, std::string_view id);
[[nodiscard]] Decision decide_set_policy(const WorkspaceState& ws, std::string_view scope, std::string_view role,
                                         std::string_view db, const Json& body);
// `{columns, filter?, sort?: [{field, dir}], limit?}`: a named view narrows what a scope's
// contacts read (non-internal columns only; the filter and sort may name those and the system
// fields).
[[nodiscard]] Decision decide_define_view(const WorkspaceState& ws, std::string_view scope, std::string_view db,
                                          std::string_view view, const Json& body);
// Logout: the session's id (never its token) goes into the log, and every service refuses it.
[[nodiscard]] Decision decide_end_session(const WorkspaceState& ws, const std::string& session_id,
                                          const Actor& principal, TimestampMs expires_at);
// ---- internal users, invitations and sessions (people.cpp) ----

// `{email, name, role: admin/member/auditor}`: an internal user invited to join; the token is
// the caller's business and never enters the event, only its expiry does.
[[nodiscard]] Decision decide_invite_user(const WorkspaceState& ws, const Json& body, const std::string& user_id,
                                          TimestampMs expires_at);
// Deactivation ends the user's sessions everywhere; the last active admin cannot be deactivated.
[[nodiscard]] Decision decide_deactivate_user(const WorkspaceState& ws, std::string_view id);

// Who a session is for: its principal as the token states it.
struct SessionGrant {
  std::string kind;  // "user" or "contact"
  std::string id;
  std::string role;
  std::string client_id;  // contacts only
};
// The grant for a credential's owner, if it may sign in now: a joined, active user or contact.
[[nodiscard]] std::optional<SessionGrant> may_sign_in(const WorkspaceState& ws, std::string_view id);

// An open invitation: a user or contact that has not joined, is active, and whose invitation
// (its expiry taken from the invitation event, never from a clock at replay) runs past `now`.
struct Invitee {
  SessionGrant grant;
  std::string email;
};
[[nodiscard]] std::optional<Invitee> open_invitation(const WorkspaceState& ws, std::string_view id, TimestampMs now);
// `{name?, password}` for an open invitation: user.joined or contact.joined. Not open (used,
// expired, deactivated, unknown) is not_found, one answer for all.
[[nodiscard]] Decision decide_accept_invitation(const WorkspaceState& ws, std::string_view id, const Json& body,
                                                TimestampMs now);

// session.started: every sign-in and every accepted invitation leaves one in the log, with the
// session's id and never its token. `method` is "password" or "invitation".
[[nodiscard]] Draft session_started(const SessionGrant& who, const std::string& session_id, TimestampMs expires_at,
                                    std::string_view method);
// signin.throttled: an account of this workspace was locked after repeated failed sign-ins. The
// e-mail is the one tried (the account may not exist); `episode_id` names the stream.
[[nodiscard]] Draft signin_throttled(std::string_view email, int failures, TimestampMs locked_until,
                                     const std::string& episode_id);

[[nodiscard]] Decision decide_remove_policy(const WorkspaceState& ws, std::string_view scope, std::string_view role,
                                            std::string_view db);

// A contact's record writes, under its effective policy. Invisible means 404 (as missing);
// visible but not allowed means 403. The owner is always the contact's own client.
[[nodiscard]] std::expected<CreateOutcome, CommandError> decide_contact_create_record(
    const WorkspaceState& ws, const ContactState& contact, std::string_view db, const Json& body,
    const std::string& record_id, const std::optional<std::string>& idempotency_key, TimestampMs now);
// `if_match` is compared with the version the contact is shown (its visible version), never
// the real one: an edit it cannot see neither blocks its edits nor tells it anything.
[[nodiscard]] Decision decide_contact_update_record(const WorkspaceState& ws, const ContactState& contact,
                                                    std::string_view db, std::string_view id, const Json& body,
                                                    std::optional<std::uint64_t> if_match, TimestampMs now);
// The version `contact` is shown for record `id` of `db` under its effective policy (its ETag),
// or nullopt when it has no policy there or there is no such record. Visibility is the caller's.
[[nodiscard]] std::optional<std::uint64_t> contact_version(const WorkspaceState& ws, const ContactState& contact,
                                                           std::string_view db, std::string_view id);

[[nodiscard]] Decision decide_delete_record(const WorkspaceState& ws, std::string_view db,
                                            std::string_view id,
                                            std::optional<std::uint64_t> if_match);

}  // namespace apexloop
