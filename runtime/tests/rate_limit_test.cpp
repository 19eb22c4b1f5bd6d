#include "apexloop/runtime/rate_limit.hpp"

#include <gtest/gtest.h>

namespace apexloop::http {
namespace {

using namespace std::chrono_literals;
const RateLimiter::TimePoint kStart{};

TEST(RateLimiter, ABurstPassesThenTheClientWaitsForItsRate) {
  RateLimiter limit(2, 5);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limit.admit("10.0.0.1", kStart).has_value()) << i;
  auto wait = limit.admit("10.0.0.1", kStart);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 1s);
  EXPECT_TRUE(limit.admit("10.0.0.1", kStart + 400ms).has_value()) << "0.8 of a request regained";
  EXPECT_FALSE(limit.admit("10.0.0.1", kStart + 500ms).has_value()) << "one request regained at 2/s";
  EXPECT_TRUE(limit.admit("10.0.0.1", kStart + 500ms).has_value());
}

TEST(RateLimiter, EachClientHasItsOwnBudget) {
  RateLimiter limit(1, 1);
  EXPECT_FALSE(limit.admit("10.0.0.1", kStart).has_value());
  EXPECT_TRUE(limit.admit("10.0.0.1", kStart).has_value());
  EXPECT_FALSE(limit.admit("10.0.0.2", kStart).has_value());
}

TEST(RateLimiter, RetryAfterIsRoundedUpToWholeSeconds) {
  RateLimiter limit(0.25, 1);
  EXPECT_FALSE(limit.admit("a", kStart).has_value());
  EXPECT_EQ(limit.admit("a", kStart), std::optional(4s));
  EXPECT_EQ(limit.admit("a", kStart + 3500ms), std::optional(1s));
}

TEST(RateLimiter, ZeroSwitchesItOff) {
  RateLimiter limit(0, 0);
  EXPECT_FALSE(limit.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limit.admit("a", kStart).has_value());
  EXPECT_EQ(limit.clients(), 0u);
}

TEST(RateLimiter, MemoryStaysBoundedUnderManyAddresses) {
  RateLimiter limit(1, 2, 100);
  for (int i = 0; i < 10'000; ++i) (void)limit.admit("10.0." + std::to_string(i), kStart + std::chrono::milliseconds(i));
  EXPECT_LE(limit.clients(), 100u);
  // Eviction forgets idle (full) budgets first: a client that has spent its own keeps owing.
  RateLimiter kept(1, 1, 2);
  EXPECT_FALSE(kept.admit("idle", kStart).has_value());
  EXPECT_FALSE(kept.admit("busy", kStart + 5s).has_value());
  EXPECT_FALSE(kept.admit("new", kStart + 5s).has_value());
  EXPECT_EQ(kept.clients(), 2u);
  EXPECT_TRUE(kept.admit("busy", kStart + 5s).has_value()) << "its spent budget survived the eviction";
}

TEST(ClientAddress, ForwardedForCountsOnlyFromATrustedProxy) {
  const std::vector<std::string> trusted{"127.0.0.1", "::1"};
  EXPECT_EQ(client_address("127.0.0.1", "", trusted), "127.0.0.1");
  EXPECT_EQ(client_address("127.0.0.1", "203.0.113.7", trusted), "203.0.113.7");
  EXPECT_EQ(client_address("127.0.0.1", "198.51.100.1, 203.0.113.7 ", trusted), "203.0.113.7") << "the proxy's own entry";
  EXPECT_EQ(client_address("192.0.2.9", "203.0.113.7", trusted), "192.0.2.9") << "anyone else may not pick its key";
  EXPECT_EQ(client_address("127.0.0.1", "not-an-address", trusted), "127.0.0.1");
  EXPECT_EQ(client_address("::1", "2001:db8::1", trusted), "2001:db8::1");
}

}  // namespace
}  // namespace apexloop::http
