#pragma once
// Approvals (ACCESS.md "Collaboration objects"): an internal admin or member asks a client to
// decide on a record; a contact who reads the record and whose policy has `approve: true` decides
// once: approved, rejected or changes_requested, with an optional comment. To ask again, request
// again (a new approval); a decided request takes no second decision.

#include <string>
#include <string_view>

#include "apexloop/core/comments.hpp"
#include "apexloop/core/workspace.hpp"

namespace apexloop {

// `{title, detail?}`, by an internal user.
[[nodiscard]] Decision decide_request_approval(const WorkspaceState& ws, const Commenter& who, std::string_view db,
                                               std::string_view record_id, const Json& body, std::string approval_id);
// `{decision, comment?}`, by a contact.
[[nodiscard]] Decision decide_approval(const WorkspaceState& ws, const Commenter& who, std::string_view approval_id,
                                       const Json& body, TimestampMs now);

}  // namespace apexloop
