#include "apexloop/projector/stored_record.hpp"

#include <gtest/gtest.h>

namespace apexloop::projector {
namespace {

Json::Object obj(std::string_view text) { return parse_json(text)->as_object(); }

StoredRecord sample() {
  return stored_record("0190a000-0000-7000-8000-000000000001", 3, "2026-11-30T06:00:00.000Z",
                       "2026-11-30T06:01:00.000Z", "000000000000002a",
                       obj(R"({"title":"Say \"hi\"","priority":7,"ratio":0.5,"tags":["a","b"],"owner":"c1","gone":null})"));
}

TEST(StoredRecord, RoundTripsThroughItsEncoding) {
  const StoredRecord r = sample();
  auto back = StoredRecord::decode(r.encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->id, r.id);
  EXPECT_EQ(back->version, 3u);
  EXPECT_EQ(back->created_at, r.created_at);
  EXPECT_EQ(back->updated_at, r.updated_at);
  EXPECT_EQ(back->order, r.order);
  EXPECT_EQ(back->fields, r.fields);
  // Null fields are not kept; the others are in key order as JSON text.
  ASSERT_EQ(r.fields.size(), 5u);
  EXPECT_EQ(r.fields.front().first, "owner");
  EXPECT_EQ(*r.field("title"), R"("Say \"hi\"")");
  EXPECT_EQ(r.field("gone"), nullptr);
}

TEST(StoredRecord, RefusesTruncatedOrForeignBytes) {
  const std::string bytes = sample().encode();
  for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(StoredRecord::decode(bytes.substr(0, n)).has_value()) << n;
  EXPECT_FALSE(StoredRecord::decode(bytes + "x").has_value());
  EXPECT_FALSE(StoredRecord::decode(R"({"id":"x"})").has_value());
  std::string huge_count = bytes;
  // The field count sits right before the first field; claim four billion fields.
  const auto at = bytes.find("owner") - 4 - 4;
  huge_count.replace(at, 4, std::string(4, '\xff'));
  EXPECT_FALSE(StoredRecord::decode(huge_count).has_value());
}

TEST(StoredRecord, SetFieldKeepsKeyOrderAndRemovesOnNull) {
  StoredRecord r = sample();
  r.set_field("due", Json("2026-12-01"));
  r.set_field("priority", Json(9));
  r.set_field("tags", std::nullopt);
  r.set_field("ratio", Json(nullptr));
  std::vector<std::string> keys;
  for (const auto& [k, _] : r.fields) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"due", "owner", "priority", "title"}));
  EXPECT_EQ(*r.field("priority"), "9");
}

TEST(StoredRecord, ReadsValuesLikeTheJsonParser) {
  const StoredRecord r = sample();
  const auto parsed = r.parse_fields({"title", "priority", "ratio", "tags", "owner", "absent"});
  EXPECT_EQ(Json(parsed), *parse_json(R"({"title":"Say \"hi\"","priority":7,"ratio":0.5,"tags":["a","b"],"owner":"c1"})"));
  EXPECT_EQ(r.string_field("owner"), "c1");
  EXPECT_EQ(r.string_field("title"), "Say \"hi\"");
  EXPECT_EQ(r.string_field("priority"), "");
  EXPECT_EQ(r.string_field("absent"), "");
}

TEST(StoredRecord, ServesTheKeptFieldsWithReplacements) {
  const StoredRecord r = sample();
  std::string out;
  append_served(out, r, [](const std::string& key, const std::string&, std::string& replacement) {
    if (key == "tags") replacement = R"(["a"])";
    return key == "title" || key == "tags";
  });
  EXPECT_EQ(out, R"({"id":"0190a000-0000-7000-8000-000000000001","version":3,"created_at":"2026-11-30T06:00:00.000Z",)"
                 R"("updated_at":"2026-11-30T06:01:00.000Z","fields":{"tags":["a"],"title":"Say \"hi\""}})");
}

}  // namespace
}  // namespace apexloop::projector
