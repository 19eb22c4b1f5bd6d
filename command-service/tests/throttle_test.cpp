#include "apexloop/command/throttle.hpp"

#include <gtest/gtest.h>

namespace apexloop::command {
namespace {

struct FakeClock final : Clock {
  TimestampMs t{1'000'000};
  TimestampMs now() const override { return t; }
};

TEST(SigninThrottle, LocksAfterTenConsecutiveFailuresOnly) {
  FakeClock clock;
  SigninThrottle t(clock, 10, std::chrono::seconds(60));
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(t.failure("ws/a"));
  EXPECT_FALSE(t.blocked("ws/a").has_value());
  EXPECT_TRUE(t.failure("ws/a"));
  ASSERT_TRUE(t.blocked("ws/a").has_value());
  EXPECT_EQ(t.blocked("ws/a")->count(), 60);
  EXPECT_FALSE(t.blocked("ws/b").has_value()) << "other accounts are unaffected";
}

TEST(SigninThrottle, SuccessResetsAndLockoutEnds) {
  FakeClock clock;
  SigninThrottle t(clock, 3, std::chrono::seconds(30));
  t.failure("x");
  t.failure("x");
  t.success("x");
  EXPECT_FALSE(t.failure("x")) << "the count started again";
  t.failure("x");
  EXPECT_TRUE(t.failure("x"));
  clock.t.ms += 29'500;
  EXPECT_EQ(t.blocked("x")->count(), 1);
  clock.t.ms += 500;
  EXPECT_FALSE(t.blocked("x").has_value());
  EXPECT_TRUE(t.failure("x")) << "after a lockout, one failure locks again";
}

TEST(SigninThrottle, MemoryStaysBounded) {
  FakeClock clock;
  SigninThrottle t(clock, 10, std::chrono::seconds(1), 100);
  for (int i = 0; i < 1000; ++i) {
    t.failure("spray-" + std::to_string(i));
    clock.t.ms += 20;
  }
  t.failure("victim");
  for (int i = 0; i < 9; ++i) t.failure("victim");
  EXPECT_TRUE(t.blocked("victim").has_value());
}

}  // namespace
}  // namespace apexloop::command
