#include "apexloop/command/credentials.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace apexloop::command {
namespace {

TEST(PasswordHasher, UsesArgon2idAtTheAgreedCostAndVerifies) {
  PasswordHasher h(1);
  auto hash = h.hash("correct horse battery");
  ASSERT_TRUE(hash.has_value());
  EXPECT_TRUE(hash->starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << *hash;
  EXPECT_TRUE(h.verify(*hash, "correct horse battery"));
  EXPECT_FALSE(h.verify(*hash, "correct horse batterx"));
  EXPECT_FALSE(h.verify("garbage", "correct horse battery"));
  EXPECT_NE(*h.hash("correct horse battery"), *hash) << "salted";
}

TEST(CredentialStore, PutGetRemoveAcrossReopen) {
  const auto dir = (std::filesystem::temp_directory_path() / ("apexloop-cred-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  {
    auto s = CredentialStore::open(dir);
    ASSERT_TRUE(s.has_value());
    ASSERT_TRUE((*s)->put("ws", "a@example.com", {"u1", "$argon2id$x"}).has_value());
  }
  auto s = CredentialStore::open(dir);
  auto c = (*s)->get("ws", "a@example.com");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user_id, "u1");
  EXPECT_EQ(c->hash, "$argon2id$x");
  EXPECT_FALSE((*s)->get("other-ws", "a@example.com").has_value());
  (*s)->remove("ws", "a@example.com");
  EXPECT_FALSE((*s)->get("ws", "a@example.com").has_value());
  s->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace apexloop::command
