#pragma once
// Comments on records (ACCESS.md "Collaboration objects"): decisions for adding, editing and
// deleting them. Internal users (admin, member) comment on any record, as a client-visible
// comment or an internal note; a contact comments only on a record it can read, only with
// `comment: true` in its policy, and its comments are always client-visible. Only the author
// edits or deletes a comment; the log keeps every earlier body.

#include <string>
#include <string_view>

#include "apexloop/core/workspace.hpp"

namespace apexloop {

inline constexpr std::size_t kMaxCommentBytes = 10'000;

// Who is commenting: an internal user, or a contact (then `contact` is its state).
struct Commenter {
  std::string kind;  // "user" or "contact"
  std::string id;
  const ContactState* contact = nullptr;
};

// `{body, visibility?: client|internal}`; a user's comment is internal unless it says client.
[[nodiscard]] Decision decide_add_comment(const WorkspaceState& ws, const Commenter& who, std::string_view db,
                                          std::string_view record_id, const Json& body, std::string comment_id,
                                          TimestampMs now);
// `{body}`.
[[nodiscard]] Decision decide_edit_comment(const WorkspaceState& ws, const Commenter& who, std::string_view comment_id,
                                           const Json& body, TimestampMs now);
[[nodiscard]] Decision decide_delete_comment(const WorkspaceState& ws, const Commenter& who,
                                             std::string_view comment_id, TimestampMs now);

// Whether contact `c` may read record `id` of `db` now (its policy's row rule), and its policy.
[[nodiscard]] const Policy* contact_reads(const WorkspaceState& ws, const ContactState& c, std::string_view db,
                                          std::string_view id, TimestampMs now);

// Whether contact `c` is shown `comment` now: a live client-visible comment on a record it reads.
[[nodiscard]] bool contact_sees_comment(const WorkspaceState& ws, const ContactState& c, const CommentState& comment,
                                        TimestampMs now);

// The comment `who` may change (edit, delete, attach files to): it exists, is not deleted, can be
// seen by `who`, and is its own. What `who` cannot see is not there (404); another's comment it
// can see is 403.
[[nodiscard]] std::expected<const CommentState*, CommandError> own_comment(const WorkspaceState& ws, const Commenter& who,
                                                                           std::string_view id, TimestampMs now);

}  // namespace apexloop
