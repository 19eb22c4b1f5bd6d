#include "apexloop/core/authz.hpp"

namespace apexloop {

namespace {

// ACCESS.md: admins everything; members work on records but never touch schema, policies,
// clients' settings or users; auditors read everything and write nothing.
bool member_may(Function f) {
  switch (f) {
    case Function::write_records:
    case Function::delete_records:
    case Function::read_records:
    case Function::read_workspace:
    case Function::end_own_session: return true;
    case Function::read_audit:  // ACCESS.md: audit history is the auditors' (and admins') alone
    case Function::manage_schema:
    case Function::manage_policies:
    case Function::manage_clients:
    case Function::manage_users: return false;
  }
  return false;
}

bool auditor_may(Function f) {
  return f == Function::read_records || f == Function::read_workspace || f == Function::end_own_session ||
         f == Function::read_audit;
}

// A contact reaches only the record functions, where its policy decides row by row, and never an
// internal one: it cannot delete, and it cannot list the workspace's clients.
bool contact_may(Function f) {
  return f == Function::write_records || f == Function::read_records || f == Function::end_own_session;
}

}  // namespace

bool is_internal_role(std::string_view role) { return role == "admin" || role == "member" || role == "auditor"; }

Verdict authorize(std::string_view kind, std::string_view role, Function f) {
  bool allowed = false;
  if (kind == "user") {
    allowed = role == "admin" ? true : role == "member" ? member_may(f) : role == "auditor" ? auditor_may(f) : false;
  } else if (kind == "contact") {
    allowed = !role.empty() && contact_may(f);
  }
  return allowed ? Verdict::allow : Verdict::forbidden;
}

}  // namespace apexloop
