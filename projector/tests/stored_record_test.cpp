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

TEST(StoredRecord, KeepsItsFieldStampsThroughItsEncoding) {
  StoredRecord r = sample();
  restamp(r.stamps, "title", Stamp{2, TimestampMs{1'795'000'060'000}});
  restamp(r.stamps, "gone", Stamp{3, TimestampMs{1'795'000'120'000}});  // cleared, still stamped
  auto back = StoredRecord::decode(r.encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(r.encode().starts_with("R2"));
  EXPECT_EQ(back->stamps, r.stamps);
  EXPECT_EQ(back->fields, r.fields);
}

// Read models written before the stamps hold "R1": every field is taken as changed by the
// record's last event, so readers keep being shown what they were shown before.
TEST(StoredRecord, ReadsTheUnstampedFormatAsChangedByItsLastEvent) {
  const StoredRecord r = sample();
  std::string r1 = r.encode();
  ASSERT_TRUE(r1.ends_with(std::string(4, '\0')));  // no stamps
  r1.resize(r1.size() - 4);
  r1[1] = '1';
  auto back = StoredRecord::decode(r1);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->fields, r.fields);
  ASSERT_EQ(back->stamps.size(), r.fields.size());
  for (const auto& f : back->stamps) EXPECT_EQ(f.stamp.version, 3u) << f.field;
  std::string scratch;
  const Shown shown = shown_to(*back, [](std::string_view k) { return k == "title"; }, scratch);
  EXPECT_EQ(shown.version, 3u);
  EXPECT_EQ(shown.updated_at, r.updated_at);
  for (std::size_t n = 0; n < r1.size(); ++n) EXPECT_FALSE(StoredRecord::decode(r1.substr(0, n)).has_value()) << n;
  // A record at version 1 has had no edit: nothing to stamp.
  StoredRecord fresh = sample();
  fresh.version = 1;
  std::string fresh_r1 = fresh.encode();
  fresh_r1.resize(fresh_r1.size() - 4);
  fresh_r1[1] = '1';
  EXPECT_TRUE(StoredRecord::decode(fresh_r1)->stamps.empty());
}

TEST(StoredRecord, EachReaderIsShownTheLastChangeItCanRead) {
  StoredRecord r = sample();  // version 3
  restamp(r.stamps, "priority", Stamp{2, TimestampMs{1'796'018'430'000}});
  restamp(r.stamps, "title", Stamp{3, TimestampMs{1'796'018'460'000}});
  std::string scratch;
  auto only = [](std::string_view key) { return [key](std::string_view k) { return k == key; }; };
  Shown s = shown_to(r, only("owner"), scratch);
  EXPECT_EQ(s.version, 1u);
  EXPECT_EQ(s.updated_at, r.created_at) << "nothing it reads changed since the creation";
  s = shown_to(r, only("priority"), scratch);
  EXPECT_EQ(s.version, 2u);
  EXPECT_EQ(s.updated_at, "2026-11-30T06:00:30.000Z");
  s = shown_to(r, only("title"), scratch);
  EXPECT_EQ(s.version, 3u);
  EXPECT_EQ(s.updated_at, r.updated_at);
  std::string out;
  append_served(out, r, shown_to(r, only("priority"), scratch), [](const std::string& key, const std::string&, std::string&) {
    return key == "priority";
  });
  EXPECT_EQ(out, R"({"id":"0190a000-0000-7000-8000-000000000001","version":2,"created_at":"2026-11-30T06:00:00.000Z",)"
                 R"("updated_at":"2026-11-30T06:00:30.000Z","fields":{"priority":7}})");
}

TEST(StoredRecord, KeepsItsCreationThroughItsEncoding) {
  StoredRecord r = sample();
  r.creation = Creation{"user", "0190a000-0000-7000-8000-00000000ad01", "0190a000-0000-7000-8000-0000000000e1", "0:42",
                        "owner", 1};
  const std::string bytes = r.encode();
  EXPECT_TRUE(bytes.starts_with("R3"));
  auto back = StoredRecord::decode(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->creation, r.creation);
  EXPECT_EQ(back->fields, r.fields);
  for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(StoredRecord::decode(bytes.substr(0, n)).has_value()) << n;
  // Left out when asked: the rest is the same.
  StoredRecord placed;
  ASSERT_TRUE(StoredRecord::decode_into(bytes, placed, false));
  EXPECT_FALSE(placed.creation.has_value());
  EXPECT_EQ(placed.fields, r.fields);
  EXPECT_EQ(placed.id, r.id);
  // Decoding into a record that held one leaves none behind.
  StoredRecord reused = *back;
  ASSERT_TRUE(StoredRecord::decode_into(sample().encode(), reused));
  EXPECT_FALSE(reused.creation.has_value());
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
