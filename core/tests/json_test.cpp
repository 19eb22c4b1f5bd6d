#include "apexloop/core/json.hpp"
#include "apexloop/core/json_dom.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>

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

// write_json_string looks at eight characters at a time: it must escape exactly what a plain
// character-by-character writer does, wherever in a word the character sits, and whatever the
// bytes around it (high bytes of UTF-8 included).
TEST(Json, EscapingEightAtATimeMatchesOneAtATime) {
  auto plain = [](std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (u < 0x20) {
        const char* named = c == '\n'   ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                            : c == '\b' ? "\\b"
                            : c == '\f' ? "\\f"
                                        : nullptr;
        if (named != nullptr) {
          out += named;
        } else {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        }
      } else {
        out += c;
      }
    }
    return out + "\"";
  };
  std::mt19937 rng(20261130);
  const std::string alphabet = std::string("ab\"\\\n\x01\x1f \x7f\x80\xc3\xa9\xff", 13) + std::string(1, '\0');
  for (int n = 0; n < 20000; ++n) {
    std::string s(rng() % 40, 'x');
    // Mostly plain text, sometimes anything: both paths and their seams get exercised.
    for (auto& c : s) {
      c = rng() % 4 == 0 ? alphabet[rng() % alphabet.size()] : static_cast<char>('a' + rng() % 26);
    }
    std::string out;
    write_json_string(out, s);
    ASSERT_EQ(out, plain(s)) << "input of " << s.size() << " bytes";
  }
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

std::vector<std::string> keys_of(const Json::Object& o) {
  std::vector<std::string> out;
  for (const auto& [k, _] : o) out.push_back(k);
  return out;
}

// A reader refills one Json with document after document: each must come out exactly as a fresh
// parse gives it, whatever the Json held before (other kinds at the same place, longer and
// shorter strings, arrays and objects that grow and shrink, keys out of order and repeated).
TEST(Json, AssigningFromDomIntoAUsedValueGivesWhatAFreshParseGives) {
  const std::vector<std::string> docs = {
      R"({"database":"projects","fields":{"budget":1,"owner":"0190a000-0000-7000-8000-00001dcd6500","title":"a"}})",
      R"({"database":"p","fields":{"budget":"now a string that is longer than before","title":["x",{"y":null}]}})",
      R"({"database":null,"fields":{"z":1,"a":2,"z":3},"more":[1,2,3,4,5,6,7,8]})",
      R"({"fields":{}})",
      R"(["a",1,2.5,true,{"k":"v"},[[]]])",
      R"("just a string")",
      R"({"database":"projects","fields":{"budget":1,"owner":"0190a000-0000-7000-8000-00001dcd6500","title":"a"}})",
      R"(18446744073709551615)",
      R"(null)",
  };
  Json into(Json::Object{{"left", "over"}});
  for (std::size_t round = 0; round < 2; ++round) {
    for (const auto& text : docs) {
      auto dom = parse_dom(text);
      ASSERT_TRUE(dom.has_value()) << text;
      assign_from_dom(into, *dom);
      auto fresh = parse_json(text);
      ASSERT_TRUE(fresh.has_value()) << text;
      EXPECT_EQ(into, *fresh) << text;
      EXPECT_EQ(to_json(into), to_json(*fresh)) << text;
    }
  }
}

// The order std::map<std::string, Json, std::less<>> kept, which the bytes we store depend on:
// bytes compared unsigned, a prefix first.
TEST(JsonObject, KeepsKeysInTheOrderAMapDid) {
  const Json::Object o{{"b", 1}, {"a", 2}, {"B", 3}, {"\xc3\xa9", 4}, {"ab", 5}, {"", 6}, {"a\x7f", 7}};
  EXPECT_EQ(keys_of(o), (std::vector<std::string>{"", "B", "a", "ab", "a\x7f", "b", "\xc3\xa9"}));
  EXPECT_EQ(to_json(Json(o)), "{\"\":6,\"B\":3,\"a\":2,\"ab\":5,\"a\x7f\":7,\"b\":1,\"\xc3\xa9\":4}");
}

// As with std::map: of duplicates in an initializer list the first is kept.
TEST(JsonObject, InitializerListKeepsTheFirstOfDuplicates) {
  const Json::Object o{{"a", 1}, {"b", 2}, {"a", 3}, {"b", 4}, {"c", 5}};
  EXPECT_EQ(to_json(Json(o)), R"({"a":1,"b":2,"c":5})");
}

// A parsed object keeps the last of duplicate keys, in order or not.
TEST(JsonObject, ParsingKeepsTheLastOfDuplicates) {
  EXPECT_EQ(to_json(*parse_json(R"({"a":1,"b":2,"a":3})")), R"({"a":3,"b":2})");
  EXPECT_EQ(to_json(*parse_json(R"({"b":1,"a":2,"b":3,"a":4})")), R"({"a":4,"b":3})");
  EXPECT_EQ(to_json(*parse_json(R"({"a":1,"a":{"x":1,"x":2}})")), R"({"a":{"x":2}})");
}

TEST(JsonObject, FromMembersSortsAndKeepsTheLastOfDuplicates) {
  const auto o = Json::Object::from_members({{"b", 1}, {"a", 2}, {"b", 3}, {"c", 4}, {"a", 5}});
  EXPECT_EQ(to_json(Json(o)), R"({"a":5,"b":3,"c":4})");
  EXPECT_EQ(Json::Object::from_members({{"a", 1}, {"b", 2}}), (Json::Object{{"a", 1}, {"b", 2}}));
  EXPECT_TRUE(Json::Object::from_members({}).empty());
}

// Regression: parsed members were inserted one by one, so each that came out of order moved all
// after it; a 1 MB body with its keys in descending order took half a minute to parse.
TEST(JsonObject, ParsesMembersInAnyOrder) {
  std::string text = "{";
  for (int i = 100'000; i > 0; --i) text += "\"" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += R"("1":0})";
  auto j = parse_json(text);
  ASSERT_TRUE(j.has_value());
  const auto& o = j->as_object();
  EXPECT_EQ(o.size(), 100'000u);
  EXPECT_EQ(o.at("1"), Json(0));
  EXPECT_EQ(o.at("100000"), Json(100'000));
  EXPECT_TRUE(std::is_sorted(o.begin(), o.end(), [](const auto& a, const auto& b) { return a.first < b.first; }));
}

TEST(JsonObject, LooksUpInsertsAndErases) {
  Json::Object o{{"b", 2}};
  EXPECT_TRUE(o.contains("b"));
  EXPECT_FALSE(o.contains("a"));
  EXPECT_EQ(o.count("b"), 1u);
  EXPECT_EQ(o.find("a"), o.end());
  EXPECT_EQ(o.at("b"), Json(2));
  EXPECT_THROW((void)o.at("a"), std::out_of_range);
  EXPECT_TRUE(o["a"].is_null());  // [] inserts null, as a map's value-initialised Json
  EXPECT_EQ(o.size(), 2u);
  EXPECT_FALSE(o.emplace("a", 1).second) << "emplace leaves a member that is there";
  EXPECT_TRUE(o.at("a").is_null());
  EXPECT_FALSE(o.insert_or_assign("a", 1).second);
  EXPECT_EQ(o.at("a"), Json(1));
  EXPECT_TRUE(o.insert_or_assign(std::string("c"), 3).second);
  EXPECT_EQ(to_json(Json(o)), R"({"a":1,"b":2,"c":3})");
  EXPECT_EQ(o.erase("missing"), 0u);
  EXPECT_EQ(o.erase("a"), 1u);
  auto next = o.erase(o.find("b"));
  EXPECT_EQ(next->first, "c");
  EXPECT_EQ(erase_if(o, [](const auto& m) { return m.first == "c"; }), 1u);
  EXPECT_TRUE(o.empty());
}

// A hint is only a hint: a wrong one still gives a sorted object, a duplicate is assigned.
TEST(JsonObject, HintedInsertStaysSorted) {
  Json::Object o;
  o.insert_or_assign(o.end(), "b", 1);
  o.insert_or_assign(o.end(), "d", 2);
  o.insert_or_assign(o.end(), "a", 3);
  o.insert_or_assign(o.begin(), "e", 4);
  o.insert_or_assign(o.find("d"), "c", 5);
  o.insert_or_assign(o.end(), "d", 6);
  o.insert_or_assign(o.begin(), "a", 7);
  EXPECT_EQ(to_json(Json(o)), R"({"a":7,"b":1,"c":5,"d":6,"e":4})");
}

TEST(JsonObject, EqualityIgnoresTheOrderOfConstruction) {
  EXPECT_EQ((Json::Object{{"a", 1}, {"b", 2}}), (Json::Object{{"b", 2}, {"a", 1}}));
  EXPECT_NE((Json::Object{{"a", 1}, {"b", 2}}), (Json::Object{{"a", 1}, {"b", 3}}));
  EXPECT_NE((Json::Object{{"a", 1}}), (Json::Object{{"a", 1}, {"b", 2}}));
  EXPECT_EQ(*parse_json(R"({"x":{"b":[1],"a":null}})"), *parse_json(R"({"x":{"a":null,"b":[1]}})"));
}

TEST(JsonObject, RoundTripsThroughText) {
  const std::string text = R"({"z":{"y":1,"x":[{"b":2,"a":1}]},"a":"",)" R"("m":{}})";
  auto once = parse_json(text);
  ASSERT_TRUE(once.has_value());
  EXPECT_EQ(to_json(*once), R"({"a":"","m":{},"z":{"x":[{"a":1,"b":2}],"y":1}})");
  auto twice = parse_json(to_json(*once));
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(*twice, *once);
}

// Random edits against std::map, the type it replaces: same members in the same order.
TEST(JsonObject, BehavesLikeTheMapItReplaces) {
  std::mt19937_64 rng(20261130);
  Json::Object o;
  std::map<std::string, Json, std::less<>> m;
  for (int i = 0; i < 5000; ++i) {
    const std::string key(1 + rng() % 3, static_cast<char>('a' + rng() % 4));
    const Json value(static_cast<std::int64_t>(rng() % 100));
    switch (rng() % 5) {
      case 0:
        o.insert_or_assign(key, value);
        m.insert_or_assign(key, value);
        break;
      case 1:
        o.insert_or_assign(o.end(), key, value);
        m.insert_or_assign(m.end(), key, value);
        break;
      case 2:
        o.emplace(key, value);
        m.emplace(key, value);
        break;
      case 3:
        o[key] = value;
        m[key] = value;
        break;
      default: ASSERT_EQ(o.erase(key), m.erase(key));
    }
    ASSERT_EQ(o.size(), m.size());
    ASSERT_TRUE(std::equal(o.begin(), o.end(), m.begin(), m.end(),
                           [](const auto& a, const auto& b) { return a.first == b.first && a.second == b.second; }));
  }
}

}  // namespace
}  // namespace apexloop
