#include "apexloop/projector/projection.hpp"

#include <gtest/gtest.h>

#include "apexloop/projector/keys.hpp"

namespace apexloop::projector {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kRec = "0190a000-0000-7000-8000-000000000001";

Envelope ev(std::string type, std::string stream, std::uint64_t seq, std::string_view data, std::int64_t at = 1000) {
  return Envelope{"e", std::move(type), 1, kWs, std::move(stream), seq, TimestampMs{at}, Actor{"user", "u"}, "c", "",
                  *parse_json(data)};
}

class ProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apply(ev("workspace.created", "workspace/" + kWs, 1, R"({"name":"Acme"})"));
    apply(ev("database.defined", "database/tickets", 1, R"({"key":"tickets","name":"Tickets"})"));
    apply(ev("column.added", "database/tickets", 2,
             R"({"database":"tickets","key":"title","name":"Title","type":"text","options":{},"internal":false})"));
  }
  void apply(const Envelope& e) {
    auto r = proj.apply(e, Position{0, offset++}, kv);
    ASSERT_TRUE(r.has_value()) << r.error();
  }
  std::string served() { return served_record(kv, kWs, keys::kInternalSet, "", "tickets", kRec).value_or(""); }
  MapKv kv;
  Projection proj;
  std::int64_t offset = 0;
};

TEST_F(ProjectionTest, CreateServesTheRecordAndListsIt) {
  apply(ev("record.created", "record/tickets/" + kRec, 1,
           R"({"database":"tickets","record_id":")" + kRec + R"(","fields":{"title":"Printer"}})", 1'795'000'000'123));
  EXPECT_EQ(served(), R"({"id":")" + kRec +
                          R"(","version":1,"created_at":"2026-11-18T11:06:40.123Z","updated_at":"2026-11-18T11:06:40.123Z","fields":{"title":"Printer"}})");
  EXPECT_EQ(kv.get(keys::list_prefix(kWs, keys::kInternalSet, "tickets", "") + keys::order_key(3)), served());
  auto db = parse_json(*kv.get(keys::database(kWs, "tickets")));
  EXPECT_EQ(db->find("columns")->as_array().size(), 1u);
}

TEST_F(ProjectionTest, UpdateAppliesChangesInSequenceOnly) {
  apply(ev("record.created", "record/tickets/" + kRec, 1,
           R"({"database":"tickets","record_id":")" + kRec + R"(","fields":{"title":"Printer"}})"));
  apply(ev("record.updated", "record/tickets/" + kRec, 2,
           R"({"database":"tickets","record_id":")" + kRec + R"(","changes":{"title":{"before":"Printer","after":"Scanner"}}})",
           2000));
  EXPECT_NE(served().find(R"("version":2)"), std::string::npos);
  EXPECT_NE(served().find(R"("title":"Scanner")"), std::string::npos);
  EXPECT_NE(served().find(R"("updated_at":"1970-01-01T00:00:02.000Z")"), std::string::npos);
  const auto before = kv.data;
  auto skipped = proj.apply(ev("record.updated", "record/tickets/" + kRec, 4,
                            R"({"database":"tickets","record_id":")" + kRec + R"(","changes":{"title":{"before":"x","after":"y"}}})"),
                         Position{0, 99}, kv);
  EXPECT_FALSE(skipped.has_value());
  EXPECT_EQ(kv.data, before) << "an event that errs writes nothing";
}

TEST_F(ProjectionTest, DeleteRemovesEveryCopy) {
  apply(ev("record.created", "record/tickets/" + kRec, 1,
           R"({"database":"tickets","record_id":")" + kRec + R"(","fields":{}})"));
  apply(ev("record.deleted", "record/tickets/" + kRec, 2, R"({"database":"tickets","record_id":")" + kRec + R"("})"));
  for (const auto& [k, _] : kv.data) {
    if (k.starts_with("hist/")) continue;  // the audit trail outlives the record (history_test.cpp)
    EXPECT_EQ(k.find(kRec), std::string::npos) << k;
  }
}

TEST_F(ProjectionTest, MalformedEventsAreRefusedWithoutWrites) {
  const auto before = kv.data;
  for (const auto& e : {ev("record.created", "s", 1, R"({"database":"tickets","record_id":"x"})"),
                        ev("record.created", "s", 1, R"({"database":"nope","record_id":"x","fields":{}})"),
                        ev("record.updated", "s", 2, R"({"database":"tickets","record_id":"x","changes":{}})"),
                        ev("column.added", "s", 2, R"({"database":"nope","key":"k"})"),
                        ev("database.defined", "s", 1, R"({"key":"tickets","name":"again"})")}) {
    EXPECT_FALSE(proj.apply(e, Position{0, 50 + offset++}, kv).has_value()) << e.type << " " << to_json(e.data);
  }
  Envelope other = ev("database.defined", "s", 1, R"({"key":"x","name":"x"})");
  other.workspace = "another";
  EXPECT_FALSE(proj.apply(other, Position{0, 90}, kv).has_value());
  EXPECT_EQ(kv.data, before);
}

}  // namespace
}  // namespace apexloop::projector
