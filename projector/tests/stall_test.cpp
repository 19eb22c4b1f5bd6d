#include "apexloop/projector/stall.hpp"

#include <gtest/gtest.h>

namespace apexloop::projector {
namespace {

using namespace std::chrono_literals;
const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;

TEST(Stall, BehindAndNotMovingForTheLimitIsStalled) {
  StallDetector d(30s);
  d.observe(5, 100, t0);
  EXPECT_FALSE(d.stalled());
  d.observe(5, 100, t0 + 29s);
  EXPECT_FALSE(d.stalled()) << "not yet the limit";
  d.observe(7, 100, t0 + 30s);
  EXPECT_TRUE(d.stalled());
  EXPECT_DOUBLE_EQ(d.stuck_seconds(), 30.0);
}

TEST(Stall, ProgressResetsTheClock) {
  StallDetector d(30s);
  d.observe(5, 100, t0);
  d.observe(5, 101, t0 + 25s);  // applied one more: moving, if slowly
  d.observe(5, 101, t0 + 50s);
  EXPECT_FALSE(d.stalled());
  d.observe(5, 101, t0 + 55s);
  EXPECT_TRUE(d.stalled());
  d.observe(4, 102, t0 + 56s);
  EXPECT_FALSE(d.stalled()) << "recovers as soon as it applies again";
}

TEST(Stall, IdleWithNothingToApplyIsNeverStalled) {
  StallDetector d(30s);
  d.observe(0, 100, t0);
  d.observe(0, 100, t0 + 3600s);
  EXPECT_FALSE(d.stalled());
  EXPECT_DOUBLE_EQ(d.stuck_seconds(), 0.0);
  // New events arrive after a long idle spell: the clock starts now, not at the last event.
  d.observe(3, 100, t0 + 3601s);
  EXPECT_FALSE(d.stalled());
  d.observe(3, 100, t0 + 3631s);
  EXPECT_TRUE(d.stalled());
}

TEST(Stall, NothingObservedIsNotStalled) { EXPECT_FALSE(StallDetector(1s).stalled()); }

}  // namespace
}  // namespace apexloop::projector
