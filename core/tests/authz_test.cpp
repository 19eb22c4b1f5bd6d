#include <gtest/gtest.h>

#include "apexloop/core/authz.hpp"

namespace apexloop {
namespace {

constexpr Function kAll[] = {Function::manage_schema,  Function::manage_policies, Function::manage_clients,
                             Function::manage_users,   Function::write_records,   Function::delete_records,
                             Function::read_records,   Function::read_workspace,  Function::end_own_session,
                             Function::read_audit};

bool allowed(std::string_view kind, std::string_view role, Function f) {
  return authorize(kind, role, f) == Verdict::allow;
}

TEST(Authorize, AdminsMayDoEverything) {
  for (auto f : kAll) EXPECT_TRUE(allowed("user", "admin", f)) << static_cast<int>(f);
}

TEST(Authorize, MembersWorkOnRecordsButNeverOnSchemaPoliciesClientsOrUsers) {
  for (auto f : {Function::manage_schema, Function::manage_policies, Function::manage_clients, Function::manage_users,
                 Function::read_audit}) {
    EXPECT_FALSE(allowed("user", "member", f)) << static_cast<int>(f);
  }
  for (auto f : {Function::write_records, Function::delete_records, Function::read_records, Function::read_workspace,
                 Function::end_own_session}) {
    EXPECT_TRUE(allowed("user", "member", f)) << static_cast<int>(f);
  }
}

TEST(Authorize, AuditorsReadEverythingAndWriteNothing) {
  for (auto f : kAll) {
    const bool reads = f == Function::read_records || f == Function::read_workspace || f == Function::end_own_session ||
                       f == Function::read_audit;
    EXPECT_EQ(allowed("user", "auditor", f), reads) << static_cast<int>(f);
  }
}

TEST(Authorize, ContactsReachOnlyRecordFunctionsAndNeverDelete) {
  for (auto f : kAll) {
    const bool reach = f == Function::write_records || f == Function::read_records || f == Function::end_own_session;
    EXPECT_EQ(allowed("contact", "stakeholder", f), reach) << static_cast<int>(f);
  }
  // A contact's portal role may be called "admin": it is still a contact.
  EXPECT_FALSE(allowed("contact", "admin", Function::manage_schema));
  EXPECT_FALSE(allowed("contact", "admin", Function::read_workspace));
  EXPECT_FALSE(allowed("contact", "auditor", Function::read_audit));
}

TEST(Authorize, AnythingUnknownIsDenied) {
  for (auto f : kAll) {
    EXPECT_FALSE(allowed("user", "owner", f));
    EXPECT_FALSE(allowed("user", "", f));
    EXPECT_FALSE(allowed("bootstrap", "admin", f));
    EXPECT_FALSE(allowed("", "admin", f));
    EXPECT_FALSE(allowed("contact", "", f));
  }
}

}  // namespace
}  // namespace apexloop
