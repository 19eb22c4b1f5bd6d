#include "apexloop/runtime/auth.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

namespace apexloop {
namespace {

TokenSigner signer(std::uint8_t fill) {
  std::array<std::uint8_t, TokenSigner::kKeyBytes> key{};
  key.fill(fill);
  return TokenSigner(key);
}

Principal sample() {
  return Principal{"ws-1", "user", "u-1", "admin", "", "s-1", TimestampMs{10'000}};
}

TEST(Token, IssuesAndVerifies) {
  ASSERT_GE(sodium_init(), 0);
  const auto s = signer(7);
  auto p = s.verify(s.issue(sample()), TimestampMs{9'999});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->workspace, "ws-1");
  EXPECT_EQ(p->id, "u-1");
  EXPECT_EQ(p->role, "admin");
  EXPECT_EQ(p->expires_at.ms, 10'000);
}

TEST(Token, ExpiresAtItsDeadline) {
  const auto s = signer(7);
  EXPECT_EQ(s.verify(s.issue(sample()), TimestampMs{10'000}).error(), TokenError::expired);
}

TEST(Token, AnotherKeysTokenIsForged) {
  EXPECT_EQ(signer(8).verify(signer(7).issue(sample()), TimestampMs{0}).error(), TokenError::bad_signature);
}

TEST(Token, TamperedClaimsAreRefused) {
  const auto s = signer(7);
  Principal elevated = sample();
  elevated.role = "member";
  std::string token = s.issue(elevated);
  // Swap in the claims of an admin token while keeping the member token's MAC.
  const std::string admin = s.issue(sample());
  const std::string forged = admin.substr(0, admin.rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_EQ(s.verify(forged, TimestampMs{0}).error(), TokenError::bad_signature);
}

TEST(Token, GarbageIsMalformed) {
  const auto s = signer(7);
  for (const char* bad : {"", "ax1.", "ax1..", "Bearer x", "ax1.e30.%%%", "xx1.e30.AAAA"}) {
    EXPECT_FALSE(s.verify(bad, TimestampMs{0}).has_value()) << bad;
  }
}

TEST(Bearer, ExtractsCaseInsensitively) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bearer "), "");
}

TEST(Crypto, HelpersBehave) {
  ASSERT_GE(sodium_init(), 0);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*unbase64url(base64url("hello?>")), "hello?>");
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_NE(random_bytes(32), random_bytes(32));
}

}  // namespace
}  // namespace apexloop
