#include "apexloop/core/workspace.hpp"

#include <gtest/gtest.h>

namespace apexloop {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kAdmin = "0190a000-0000-7000-8000-00000000ad01";

Json parse(std::string_view s) { return *parse_json(s); }

// Applies drafts as the service would, at consecutive offsets of partition 0.
class Model {
 public:
  WriteModel wm;
  std::int64_t offset = 0;
  void commit(const std::vector<Draft>& drafts) {
    for (const auto& d : drafts) {
      Envelope e{"id", d.type, 1, kWs, d.stream, d.seq, TimestampMs{1000 + offset}, Actor{"user", kAdmin}, "c", "", d.data};
      auto r = wm.apply(e, Position{0, offset++});
      ASSERT_TRUE(r.has_value()) << r.error();
    }
  }
  const WorkspaceState& ws() const { return *wm.workspace(kWs); }
};

class WorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = decide_create_workspace(
        parse(R"({"name":"Acme","admin":{"email":"Ada@Example.com","name":"Ada","password":"correct horse battery"}})"),
        kWs, kAdmin);
    ASSERT_TRUE(created.has_value());
    m.commit(*created);
    m.commit(*decide_define_database(m.ws(), parse(R"({"key":"tickets","name":"Tickets"})")));
    m.commit(*decide_add_column(m.ws(), "tickets", parse(R"({"key":"title","name":"Title","type":"text"})")));
    m.commit(*decide_add_column(m.ws(), "tickets",
                                parse(R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","done"]}})")));
  }
  std::string create(std::string_view body, std::optional<std::string> key = std::nullopt) {
    const std::string id = "0190a000-0000-7000-8000-" + std::to_string(100000000000 + next_id++);
    auto out = decide_create_record(m.ws(), "tickets", parse(body), id, kAdmin, key);
    EXPECT_TRUE(out.has_value());
    if (out->replayed) return out->replayed->record_id;
    m.commit(out->drafts);
    return id;
  }
  Model m;
  int next_id = 0;
};

TEST_F(WorkspaceTest, CreateWorkspaceKeepsThePasswordOutOfTheEvents) {
  const auto& u = m.ws().users.at(kAdmin);
  EXPECT_EQ(u.email, "ada@example.com");
  EXPECT_EQ(u.role, "admin");
  auto drafts = decide_create_workspace(
      parse(R"({"name":"Acme","admin":{"email":"a@example.com","name":"A","password":"correct horse battery"}})"), kWs, kAdmin);
  for (const auto& d : *drafts) EXPECT_EQ(to_json(d.data).find("correct horse"), std::string::npos);
}

TEST_F(WorkspaceTest, CreateWorkspaceRefusesShortPasswordsAndBadEmails) {
  auto r = decide_create_workspace(parse(R"({"name":"A","admin":{"email":"nope","name":"A","password":"short"}})"), kWs, kAdmin);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, CommandErrorKind::invalid);
  EXPECT_EQ(r.error().errors.size(), 2u);
}

TEST_F(WorkspaceTest, DatabaseKeysAreUnique) {
  auto r = decide_define_database(m.ws(), parse(R"({"key":"tickets","name":"Again"})"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, CommandErrorKind::conflict);
}

TEST_F(WorkspaceTest, ColumnEventsCountTheDatabaseStream) {
  auto r = decide_add_column(m.ws(), "tickets", parse(R"({"key":"due","name":"Due","type":"date"})"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].seq, 4u);  // defined, title, status, due
  EXPECT_EQ((*r)[0].stream, "database/tickets");
}

TEST_F(WorkspaceTest, CreateValidatesEveryField) {
  const std::string id = "0190a000-0000-7000-8000-000000000001";
  auto r = decide_create_record(m.ws(), "tickets", parse(R"({"fields":{"status":"lost","nope":1}})"), id, kAdmin, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().errors.size(), 2u);
  auto missing_db = decide_create_record(m.ws(), "nope", parse(R"({"fields":{}})"), id, kAdmin, {});
  EXPECT_EQ(missing_db.error().kind, CommandErrorKind::not_found);
  auto not_object = decide_create_record(m.ws(), "tickets", parse(R"({"fields":[]})"), id, kAdmin, {});
  EXPECT_EQ(not_object.error().kind, CommandErrorKind::invalid);
}

TEST_F(WorkspaceTest, UpdateCarriesBeforeAndAfterAndBumpsTheVersion) {
  const std::string id = create(R"({"fields":{"title":"Printer","status":"open"}})");
  auto r = decide_update_record(m.ws(), "tickets", id, parse(R"({"fields":{"status":"done","title":"Printer"}})"), 1);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(to_json((*r)[0].data.find("changes")->as_object().at("status")), R"({"after":"done","before":"open"})");
  EXPECT_EQ((*r)[0].data.find("changes")->as_object().count("title"), 0u);  // unchanged fields are not changes
  m.commit(*r);
  EXPECT_EQ(m.ws().record("tickets", id)->version, 2u);
  EXPECT_EQ(m.ws().record("tickets", id)->fields.at("status"), Json("done"));
}

TEST_F(WorkspaceTest, UpdateNeedsTheCurrentVersion) {
  const std::string id = create(R"({"fields":{"title":"Printer"}})");
  auto stale = decide_update_record(m.ws(), "tickets", id, parse(R"({"fields":{"title":"X"}})"), 7);
  EXPECT_EQ(stale.error().kind, CommandErrorKind::conflict);
  auto missing = decide_update_record(m.ws(), "tickets", id, parse(R"({"fields":{"title":"X"}})"), std::nullopt);
  EXPECT_EQ(missing.error().kind, CommandErrorKind::precondition_required);
}

TEST_F(WorkspaceTest, UpdateThatChangesNothingAppendsNothing) {
  const std::string id = create(R"({"fields":{"title":"Printer"}})");
  auto r = decide_update_record(m.ws(), "tickets", id, parse(R"({"fields":{"title":"Printer"}})"), 1);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
}

TEST_F(WorkspaceTest, NullClearsAField) {
  const std::string id = create(R"({"fields":{"title":"Printer","status":"open"}})");
  m.commit(*decide_update_record(m.ws(), "tickets", id, parse(R"({"fields":{"status":null}})"), 1));
  EXPECT_EQ(m.ws().record("tickets", id)->fields.count("status"), 0u);
}

TEST_F(WorkspaceTest, RetriedCreateWithTheSameKeyAnswersTheFirstRecord) {
  const std::string first = create(R"({"fields":{"title":"Once"}})", "key-1");
  const std::string again = create(R"({"fields":{"title":"Once"}})", "key-1");
  EXPECT_EQ(first, again);
  EXPECT_EQ(m.ws().records.at("tickets").size(), 1u);
  auto different = decide_create_record(m.ws(), "tickets", parse(R"({"fields":{"title":"Other"}})"),
                                        "0190a000-0000-7000-8000-000000000009", kAdmin, std::string("key-1"));
  EXPECT_EQ(different.error().kind, CommandErrorKind::invalid);
  // Another actor's key space is separate.
  auto other_actor = decide_create_record(m.ws(), "tickets", parse(R"({"fields":{"title":"Once"}})"),
                                          "0190a000-0000-7000-8000-000000000009", "someone-else", std::string("key-1"));
  ASSERT_TRUE(other_actor.has_value());
  EXPECT_FALSE(other_actor->replayed.has_value());
}

TEST_F(WorkspaceTest, DeleteRemovesAndHonoursIfMatch) {
  const std::string id = create(R"({"fields":{"title":"Gone"}})");
  EXPECT_EQ(decide_delete_record(m.ws(), "tickets", id, 5).error().kind, CommandErrorKind::conflict);
  m.commit(*decide_delete_record(m.ws(), "tickets", id, std::nullopt));
  EXPECT_EQ(m.ws().record("tickets", id), nullptr);
  EXPECT_EQ(decide_delete_record(m.ws(), "tickets", id, std::nullopt).error().kind, CommandErrorKind::not_found);
}

TEST_F(WorkspaceTest, ApplyRefusesEventsThatContradictTheModel) {
  Envelope e{"id", "record.updated", 1, kWs, "record/tickets/x", 9, TimestampMs{1}, Actor{"user", kAdmin}, "c", "",
             parse(R"({"database":"tickets","record_id":"x","changes":{}})")};
  EXPECT_FALSE(m.wm.apply(e, Position{0, 1000}).has_value());
  Envelope unknown_ws = e;
  unknown_ws.workspace = "other";
  EXPECT_FALSE(m.wm.apply(unknown_ws, Position{0, 1001}).has_value());
  Envelope replayed = e;
  replayed.type = "database.defined";
  replayed.data = parse(R"({"key":"again","name":"x"})");
  EXPECT_FALSE(m.wm.apply(replayed, Position{0, 0}).has_value()) << "an old position must not apply twice";
}

}  // namespace
}  // namespace apexloop
