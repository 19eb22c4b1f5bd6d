#pragma once
// Function-level authorization (ACCESS.md "Principals"): whether a kind of caller may use a
// function at all. It runs before anything else looks at the request; the row and column rules
// of a contact's policies (access.hpp) come after it, for the functions it lets contacts reach.
// Deny by default: an unknown kind, role or function is refused.

#include <string_view>

namespace apexloop {

enum class Function {
  manage_schema,    // databases and columns
  manage_policies,  // policies and views
  manage_clients,   // client types, portal roles, clients, contacts
  manage_users,     // internal users
  write_records,    // create and edit records (a contact: as its policy allows)
  delete_records,   // internal only
  read_records,     // databases and records (a contact: its own projection)
  read_workspace,   // internal listings such as clients
  end_own_session,  // logout: ending one's own session changes no data
  read_audit,       // record history and the audit stream: every event, internal columns included
};

enum class Verdict { allow, forbidden };

// `kind` is "user" (then `role` is admin, member or auditor) or "contact" (any portal role).
[[nodiscard]] Verdict authorize(std::string_view kind, std::string_view role, Function f);

[[nodiscard]] bool is_internal_role(std::string_view role);

}  // namespace apexloop
