#pragma once
// Intake forms (ACCESS.md "Collaboration objects"): internal admins and members define a form
// for a database and some client types; a contact of such a client submits it, which creates a
// record exactly as the contact's own create would (its policy must let it create and write
// those columns), always owned by the contact's client whatever the body says.

#include <string>

#include "apexloop/core/comments.hpp"
#include "apexloop/core/workspace.hpp"

namespace apexloop {

inline constexpr std::size_t kMaxFormFields = 50;

// `{key, title, database, fields: [{column, label, required}], client_types: [..]}`.
[[nodiscard]] Decision decide_define_form(const WorkspaceState& ws, const Commenter& who, const Json& body);

// `{fields}` from a contact: the form's fields only (the owner column is dropped: the record is
// the contact's client's), every required one present.
[[nodiscard]] std::expected<CreateOutcome, CommandError> decide_submit_form(const WorkspaceState& ws,
                                                                            const ContactState& contact,
                                                                            std::string_view form, const Json& body,
                                                                            const std::string& record_id, TimestampMs now);

}  // namespace apexloop
