#include "apexloop/projector/history.hpp"

#include <gtest/gtest.h>

#include "apexloop/projector/keys.hpp"

namespace apexloop::projector {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kRec = "0190a000-0000-7000-8000-000000000001";
const std::string kAcme = "0190a000-0000-7000-8000-00000000ac01";
const std::string kGlobex = "0190a000-0000-7000-8000-00000000ac02";

Envelope ev(std::string type, std::uint64_t seq, std::string_view data, Actor actor = {"user", "ada"},
            std::int64_t at = 1000) {
  return Envelope{"e" + std::to_string(seq), std::move(type), 1, kWs, "record/tickets/" + kRec, seq, TimestampMs{at},
                  std::move(actor), "c", "", *parse_json(data)};
}

std::string rec(std::string_view rest) { return R"({"database":"tickets","record_id":")" + kRec + R"(",)" + std::string(rest); }

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& e : std::vector<Envelope>{
             Envelope{"w", "workspace.created", 1, kWs, "workspace/" + kWs, 1, TimestampMs{1}, Actor{"bootstrap", "b"}, "c", "",
                      *parse_json(R"({"name":"Acme"})")},
             Envelope{"d", "database.defined", 1, kWs, "database/tickets", 1, TimestampMs{1}, Actor{"user", "ada"}, "c", "",
                      *parse_json(R"({"key":"tickets","name":"Tickets"})")},
             Envelope{"c1", "column.added", 1, kWs, "database/tickets", 2, TimestampMs{1}, Actor{"user", "ada"}, "c", "",
                      *parse_json(R"({"database":"tickets","key":"title","name":"Title","type":"text","options":{},"internal":false})")},
             Envelope{"c2", "column.added", 1, kWs, "database/tickets", 3, TimestampMs{1}, Actor{"user", "ada"}, "c", "",
                      *parse_json(R"({"database":"tickets","key":"owner","name":"Owner","type":"client","options":{},"internal":false})")},
         }) {
      apply(e);
      ASSERT_TRUE(schema.apply(e, Position{1, offset}).has_value());
    }
  }
  void apply(const Envelope& e) {
    auto r = proj.apply(e, Position{1, offset++}, kv);
    ASSERT_TRUE(r.has_value()) << r.error();
  }
  // As readers take it: carried by the record, or written.
  Json entry(std::uint64_t seq) {
    auto v = history_entry([&](const std::string& key) { return kv.get(key); }, kWs, "tickets", kRec, seq);
    if (!v) return Json();
    return *parse_json(*v);
  }
  MapKv kv;
  Projection proj;
  WriteModel schema;  // the workspace as the projection knows it
  std::int64_t offset = 0;
};

TEST_F(HistoryTest, EveryEventOfARecordIsKeptWithWhoWhenAndEachFieldBeforeAndAfter) {
  apply(ev("record.created", 1, rec(R"("fields":{"title":"Printer","owner":null}})")));
  apply(ev("record.updated", 2, rec(R"("changes":{"title":{"before":"Printer","after":"Scanner"}}})"),
           Actor{"contact", "cara"}, 2000));
  apply(ev("record.deleted", 3, R"({"database":"tickets","record_id":")" + kRec + R"("})", Actor{"user", "bob"}, 3000));

  EXPECT_EQ(to_json(entry(1)), R"({"actor":{"id":"ada","kind":"user"},"at":"1970-01-01T00:00:01.000Z","changes":{"owner":)"
                               R"({"after":null},"title":{"after":"Printer"}},"event_id":"e1","owner":null,"position":"1:4",)"
                               R"("seq":1,"type":"record.created"})");
  const Json u = entry(2);
  EXPECT_EQ(u.string_or("type", ""), "record.updated");
  EXPECT_EQ(u.find("actor")->string_or("kind", ""), "contact");
  EXPECT_EQ(u.find("actor")->string_or("id", ""), "cara");
  EXPECT_EQ(u.string_or("at", ""), "1970-01-01T00:00:02.000Z");
  EXPECT_EQ(to_json(*u.find("changes")), R"({"title":{"after":"Scanner","before":"Printer"}})");
  // A deletion shows what was there, so the history reads complete without folding.
  const Json d = entry(3);
  EXPECT_EQ(d.string_or("type", ""), "record.deleted");
  EXPECT_EQ(d.find("actor")->string_or("id", ""), "bob");
  EXPECT_EQ(to_json(*d.find("changes")), R"({"title":{"before":"Scanner"}})") << "a null field is not stored";
  // Oldest first: keys sort by version.
  std::vector<std::int64_t> seqs;
  kv.scan(keys::history_prefix(kWs, "tickets", kRec),
          [&](std::string_view, std::string_view v) { seqs.push_back(parse_json(v)->find("seq")->as_int()); });
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_F(HistoryTest, EachEntryNamesTheOwnerAtThatEvent) {
  apply(ev("record.created", 1, rec(R"("fields":{"title":"A","owner":")" + kAcme + R"("}})")));
  apply(ev("record.updated", 2, rec(R"("changes":{"title":{"before":"A","after":"B"}}})")));
  apply(ev("record.updated", 3, rec(R"("changes":{"owner":{"before":")" + kAcme + R"(","after":")" + kGlobex + R"("}}})")));
  EXPECT_EQ(entry(1).string_or("owner", ""), kAcme);
  EXPECT_EQ(entry(2).string_or("owner", ""), kAcme) << "unchanged owner read from the record";
  EXPECT_EQ(entry(3).string_or("owner", ""), kGlobex);
}

// A creation without null fields writes no entry: the record carries it (history.hpp), and it
// reads exactly as the one written at once would, before and after the record's first change.
TEST_F(HistoryTest, ACreationsEntryIsCarriedByTheRecordUntilItsFirstChange) {
  const Envelope created = ev("record.created", 1, rec(R"("fields":{"title":"Printer","owner":")" + kAcme + R"("}})"));
  ASSERT_TRUE(carries_creation(created));
  // What writing it at once gives.
  const auto written = prepare_history(created, Position{1, offset}, *schema.workspace(kWs), nullptr);
  ASSERT_TRUE(written.has_value());

  apply(created);
  for (const auto& [k, _] : kv.data) EXPECT_FALSE(k.starts_with("hist/")) << "carried, not written: " << k;
  const auto carried = history_entry([&](const std::string& key) { return kv.get(key); }, kWs, "tickets", kRec, 1);
  ASSERT_TRUE(carried.has_value());
  EXPECT_EQ(*carried, written->entry);

  apply(ev("record.updated", 2, rec(R"("changes":{"title":{"before":"Printer","after":"Scanner"}}})")));
  EXPECT_EQ(kv.get(keys::history(kWs, "tickets", kRec, 1)), written->entry) << "written out by the first change";
  EXPECT_FALSE(carried_history([&](const std::string& key) { return kv.get(key); }, kWs, "tickets", kRec).has_value())
      << "and no longer carried";
  EXPECT_EQ(entry(2).string_or("type", ""), "record.updated");
}

TEST_F(HistoryTest, ACreationWithANullFieldWritesItsEntryAtOnce) {
  const Envelope created = ev("record.created", 1, rec(R"("fields":{"title":"A","owner":null}})"));
  EXPECT_FALSE(carries_creation(created)) << "the record does not keep null fields";
  apply(created);
  EXPECT_TRUE(kv.get(keys::history(kWs, "tickets", kRec, 1)).has_value());
}

TEST_F(HistoryTest, AnEventTheModelsRefuseLeavesNoHistory) {
  apply(ev("record.created", 1, rec(R"("fields":{"title":"A"}})")));
  const auto before = kv.data;
  // Out of sequence: the projection refuses it, and its history entry must not appear either.
  EXPECT_FALSE(proj.apply(ev("record.updated", 5, rec(R"("changes":{"title":{"before":"A","after":"B"}}})")),
                          Position{1, 77}, kv)
                   .has_value());
  EXPECT_EQ(kv.data, before);
  EXPECT_TRUE(entry(5).is_null());
}

TEST_F(HistoryTest, OtherEventsKeepNoHistory) {
  const auto before = kv.data.size();
  apply(Envelope{"s", "session.ended", 1, kWs, "session/s", 2, TimestampMs{1}, Actor{"user", "ada"}, "c", "",
                 *parse_json(R"({"session_id":"s","expires_at":"2030-01-01T00:00:00.000Z"})")});
  for (const auto& [k, _] : kv.data) EXPECT_FALSE(k.starts_with("hist/")) << k;
  EXPECT_EQ(kv.data.size(), before + 1);
}

}  // namespace
}  // namespace apexloop::projector
