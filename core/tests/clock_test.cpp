#include "apexloop/core/clock.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "apexloop/core/ids.hpp"

namespace apexloop {
namespace {

TEST(Timestamp, FormatsUtcMilliseconds) {
  EXPECT_EQ(format_timestamp(TimestampMs{0}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(TimestampMs{1'795'000'000'123}), "2026-11-18T11:06:40.123Z");
}

TEST(Timestamp, FormattingRoundTripsThroughParsingAcrossTheYears) {
  std::mt19937_64 rng(1130);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t ms = static_cast<std::int64_t>(rng() % 253'402'300'800'000ULL);  // 0000..9999
    const std::string text = format_timestamp(TimestampMs{ms});
    ASSERT_EQ(text.size(), 24u) << ms;
    auto back = parse_timestamp(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(back->ms, ms) << text;
  }
  EXPECT_EQ(format_timestamp(TimestampMs{253'402'300'799'999}), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(TimestampMs{-1}), "1969-12-31T23:59:59.999Z");
}

TEST(Timestamp, ParsesOffsetsAndFractions) {
  EXPECT_EQ(parse_timestamp("2026-11-18T11:06:40.123Z")->ms, 1'795'000'000'123);
  EXPECT_EQ(parse_timestamp("2026-11-18T12:06:40.123+01:00")->ms, 1'795'000'000'123);
  EXPECT_EQ(parse_timestamp("2026-11-18T11:06:40.1234567Z")->ms, 1'795'000'000'123);
  EXPECT_EQ(parse_timestamp("2026-11-18T11:06:40Z")->ms, 1'795'000'000'000);
}

TEST(Timestamp, RejectsWhatIsNotRfc3339) {
  for (const char* bad : {"2026-11-18", "2026-11-18T08:53:20", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                          "2026-11-18T24:00:00Z", "2026-11-18T08:53:20.Z", "2026-11-18T08:53:20Zjunk",
                          "2026-11-18T08:53:20+0100"}) {
    EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
  }
}

TEST(Date, KnowsTheCalendar) {
  EXPECT_TRUE(is_valid_date("2024-02-29"));
  EXPECT_FALSE(is_valid_date("2023-02-29"));
  EXPECT_FALSE(is_valid_date("1900-02-29"));
  EXPECT_TRUE(is_valid_date("2000-02-29"));
  EXPECT_FALSE(is_valid_date("2024-04-31"));
  EXPECT_FALSE(is_valid_date("2024-4-01"));
}

struct FixedClock final : Clock {
  TimestampMs t;
  TimestampMs now() const override { return t; }
};
struct CountingRandom final : RandomSource {
  std::uint8_t next = 0;
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = next++;
  }
};

TEST(UuidV7, HasVersionVariantAndTimestamp) {
  FixedClock clock;
  clock.t = TimestampMs{0x0123456789AB};
  CountingRandom random;
  UuidV7Generator gen(clock, random);
  const std::string id = gen.next();
  ASSERT_TRUE(is_uuid(id));
  EXPECT_EQ(id.substr(0, 13), "01234567-89ab");
  EXPECT_EQ(id[14], '7');
  EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

TEST(UuidV7, SortsInCreationOrderWithinOneMillisecondAndWhenTheClockStepsBack) {
  FixedClock clock;
  clock.t = TimestampMs{1'000'000};
  CountingRandom random;
  UuidV7Generator gen(clock, random);
  std::string prev = gen.next();
  for (int i = 0; i < 5000; ++i) {
    if (i == 2500) clock.t = TimestampMs{999'000};
    const std::string id = gen.next();
    ASSERT_LT(prev, id) << i;
    prev = id;
  }
}

TEST(Position, RoundTripsAndRejectsJunk) {
  auto p = parse_position("2:41");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->partition, 2);
  EXPECT_EQ(p->offset, 41);
  EXPECT_EQ(to_string(*p), "2:41");
  for (const char* bad : {"", ":", "1:", ":1", "a:1", "1:b", "-1:3", "1:2:3", "1:2x"}) {
    EXPECT_FALSE(parse_position(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace apexloop
