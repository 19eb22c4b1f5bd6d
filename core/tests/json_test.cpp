#include "apexloop/core/json.hpp"

#include <gtest/gtest.h>

namespace apexloop {
namespace {

TEST(Json, RoundTripsEveryKind) {
  const std::string text = R"({"a":[1,-2,3.5,true,false,null],"b":{"c":"d"},"e":""})";
  auto j = parse_json(text);
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(to_json(*j), text);
}

TEST(Json, ObjectKeysAreWrittenSorted) {
  auto j = parse_json(R"({"z":1,"a":2})");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(to_json(*j), R"({"a":2,"z":1})");
}

TEST(Json, EscapesControlCharactersQuotesAndBackslashes) {
  std::string out;
  write_json_string(out, std::string("a\"b\\c\n\x01", 7));
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001")");
  auto back = parse_json(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->as_string(), std::string("a\"b\\c\n\x01", 7));
}

TEST(Json, MalformedInputIsAnErrorValue) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":}", "nul", "\"\xff\"", "{} extra"}) {
    auto j = parse_json(bad);
    ASSERT_FALSE(j.has_value()) << bad;
    EXPECT_EQ(j.error(), JsonError::malformed) << bad;
  }
}

// Regression: deep nesting must be refused, not recursed into until the stack overflows.
TEST(Json, HundredThousandDeepIsRefused) {
  std::string deep(100'000, '[');
  deep.append(100'000, ']');
  auto j = parse_json(deep);
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error(), JsonError::too_deep);
}

TEST(Json, HugeIntegersBecomeDoublesInsteadOfWrapping) {
  auto j = parse_json("18446744073709551615");
  ASSERT_TRUE(j.has_value());
  EXPECT_TRUE(j->is_double());
  EXPECT_GT(j->as_number(), 1e19);
}

TEST(Json, FindAndStringOr) {
  auto j = parse_json(R"({"s":"x","n":1})");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->string_or("s", "?"), "x");
  EXPECT_EQ(j->string_or("n", "?"), "?");
  EXPECT_EQ(j->find("missing"), nullptr);
  EXPECT_EQ(Json(1).find("s"), nullptr);
}

}  // namespace
}  // namespace apexloop
