#include <gtest/gtest.h>

#include "apexloop/projector/keys.hpp"
#include "apexloop/projector/projection.hpp"

namespace apexloop::projector {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kAdmin = "0190a000-0000-7000-8000-00000000ad01";
const std::string kAcme = "0190a000-0000-7000-8000-0000000000c1";
const std::string kGlobex = "0190a000-0000-7000-8000-0000000000c2";
const std::string kAda = "0190a000-0000-7000-8000-0000000000e1";
const std::string kAmy = "0190a000-0000-7000-8000-0000000000e3";
const std::string kBob = "0190a000-0000-7000-8000-0000000000e2";
const std::string kAcmeSet = kAcme + ":stakeholder";
const std::string kGlobexSet = kGlobex + ":stakeholder";

Json parse(std::string_view s) { return *parse_json(s); }

// Drives the real decisions, so every event is one the command service could have written.
class AccessProjection : public ::testing::Test {
 protected:
  void SetUp() override {
    commit(*decide_create_workspace(parse(R"({"name":"A","admin":{"email":"a@x.io","name":"A","password":"0123456789"}})"), kWs, kAdmin));
    commit(*decide_define_database(ws(), parse(R"({"key":"projects","name":"Projects"})")));
    commit(*decide_add_column(ws(), "projects", parse(R"({"key":"owner","name":"Owner","type":"client"})")));
    commit(*decide_add_column(ws(), "projects", parse(R"({"key":"name","name":"Name","type":"text"})")));
    commit(*decide_define_database(ws(), parse(R"({"key":"tickets","name":"Tickets"})")));
    for (const char* c : {R"({"key":"owner","name":"Owner","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                          R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","draft","done"]}})",
                          R"({"key":"margin","name":"Margin","type":"number","internal":true})",
                          R"({"key":"requester","name":"Requester","type":"contact"})",
                          R"({"key":"project","name":"Project","type":"relation","options":{"database":"projects"}})"}) {
      commit(*decide_add_column(ws(), "tickets", parse(c)));
    }
    commit(*decide_define_client_type(ws(), parse(R"({"key":"retainer","name":"Retainer"})")));
    commit(*decide_define_portal_role(ws(), parse(R"({"key":"stakeholder","name":"Stakeholder"})")));
    commit(*decide_create_client(ws(), parse(R"({"name":"Acme","client_type":"retainer"})"), kAcme));
    commit(*decide_create_client(ws(), parse(R"({"name":"Globex","client_type":"retainer"})"), kGlobex));
    commit(*decide_invite_contact(ws(), kAcme, parse(R"({"email":"ada@acme.io","name":"Ada","role":"stakeholder"})"), kAda, TimestampMs{0}));
    commit(*decide_invite_contact(ws(), kAcme, parse(R"({"email":"amy@acme.io","name":"Amy","role":"stakeholder"})"), kAmy, TimestampMs{0}));
    commit(*decide_invite_contact(ws(), kGlobex, parse(R"({"email":"bob@globex.io","name":"Bob","role":"stakeholder"})"), kBob, TimestampMs{0}));
    commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "projects", parse(R"({"read":{"columns":["name"]}})")));
    commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                              parse(R"({"read":{"columns":["title","status","project"],"filter":{"field":"status","op":"ne","value":"draft"}}})")));
    p1 = create("projects", R"({"owner":")" + kAcme + R"(","name":"Acme site"})");
    p2 = create("projects", R"({"owner":")" + kGlobex + R"(","name":"Globex secret CANARY-G"})");
    t1 = create("tickets", R"({"owner":")" + kAcme + R"(","title":"Printer","status":"open","margin":42,"project":[")" + p1 +
                               R"(",")" + p2 + R"("]})");
    t2 = create("tickets", R"({"owner":")" + kGlobex + R"(","title":"Globex CANARY-G","status":"open"})");
    t3 = create("tickets", R"({"owner":")" + kAcme + R"(","title":"Draft","status":"draft"})");
  }

  void commit(const std::vector<Draft>& drafts) {
    for (const auto& d : drafts) {
      Envelope e{"id", d.type, 1, kWs, d.stream, d.seq, TimestampMs{1'795'000'000'000 + offset}, Actor{"user", kAdmin}, "c", "", d.data};
      const Position at{0, offset++};
      auto r = wm.apply(e, at);
      ASSERT_TRUE(r.has_value()) << d.type << ": " << r.error();
      auto p = proj.apply(e, at, kv);
      ASSERT_TRUE(p.has_value()) << d.type << ": " << p.error();
    }
  }
  std::string create(const std::string& db, const std::string& fields) {
    const std::string id = "0190a000-0000-7000-8000-" + std::to_string(100000000000 + offset);
    auto out = decide_create_record(ws(), db, parse(R"({"fields":)" + fields + "}"), id, kAdmin, std::nullopt);
    EXPECT_TRUE(out.has_value()) << fields;
    commit(out->drafts);
    return id;
  }
  void update(const std::string& db, const std::string& id, const std::string& fields) {
    auto d = decide_update_record(ws(), db, id, parse(R"({"fields":)" + fields + "}"), ws().record(db, id)->version);
    ASSERT_TRUE(d.has_value());
    commit(*d);
  }
  std::optional<Json> seen(const std::string& set, const std::string& db, const std::string& id) {
    auto v = served_record(kv, kWs, set, db, id);
    if (!v) return std::nullopt;
    return parse(*v);
  }
  std::string fields(const std::string& set, const std::string& db, const std::string& id) {
    auto r = seen(set, db, id);
    return r ? to_json(*r->find("fields")) : "<invisible>";
  }
  std::size_t listed(const std::string& set, const std::string& db) {
    std::size_t n = 0;
    kv.scan(keys::list_prefix(kWs, set, db), [&](std::string_view, std::string_view) { ++n; });
    return n;
  }
  const WorkspaceState& ws() const { return *wm.workspace(kWs); }

  WriteModel wm;
  Projection proj;
  MapKv kv;
  std::int64_t offset = 0;
  std::string p1, p2, t1, t2, t3;
};

TEST_F(AccessProjection, EachClientSeesItsOwnRowsAndOnlyGrantedColumns) {
  EXPECT_EQ(fields(kAcmeSet, "tickets", t1),
            R"({"owner":")" + kAcme + R"(","project":[")" + p1 + R"("],"status":"open","title":"Printer"})")
      << "no internal column, and the relation to Globex's project is omitted";
  EXPECT_EQ(fields(kAcmeSet, "tickets", t2), "<invisible>");
  EXPECT_EQ(fields(kAcmeSet, "tickets", t3), "<invisible>") << "the read filter hides drafts";
  EXPECT_EQ(listed(kAcmeSet, "tickets"), 1u);
  EXPECT_EQ(fields(kGlobexSet, "tickets", t2), R"({"owner":")" + kGlobex + R"(","status":"open","title":"Globex CANARY-G"})");
  EXPECT_EQ(listed(kGlobexSet, "tickets"), 1u);
  for (const auto& [k, v] : kv.data) {
    if (k.starts_with("pv/" + kWs + "/" + kAcme)) {
      EXPECT_EQ(v.find("CANARY-G"), std::string::npos) << k;
    }
  }
  EXPECT_EQ(*kv.get(keys::route(kWs, kAda, "tickets")), kAcmeSet);
  auto listing = parse(*kv.get(keys::set_database(kWs, kAcmeSet, "tickets")));
  EXPECT_EQ(to_json(listing).find("margin"), std::string::npos);
}

TEST_F(AccessProjection, APolicyChangeReprojectsOnlyThatClient) {
  const auto globex_before = fields(kGlobexSet, "tickets", t2);
  commit(*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets", parse(R"({"read":{"columns":["title"]}})")));
  EXPECT_EQ(fields(kAcmeSet, "tickets", t1), R"({"owner":")" + kAcme + R"(","title":"Printer"})");
  EXPECT_NE(fields(kAcmeSet, "tickets", t3), "<invisible>") << "the client's own policy has no filter";
  EXPECT_EQ(fields(kGlobexSet, "tickets", t2), globex_before);
  commit(*decide_remove_policy(ws(), "client:" + kAcme, "stakeholder", "tickets"));
  EXPECT_EQ(fields(kAcmeSet, "tickets", t3), "<invisible>") << "back to the type's policy";
  commit(*decide_remove_policy(ws(), "type:retainer", "stakeholder", "tickets"));
  EXPECT_EQ(listed(kAcmeSet, "tickets"), 0u);
  EXPECT_FALSE(kv.get(keys::set_database(kWs, kAcmeSet, "tickets")).has_value());
  EXPECT_FALSE(kv.get(keys::route(kWs, kAda, "tickets")).has_value());
}

TEST_F(AccessProjection, AnOwnerMoveTakesTheRecordAcross) {
  update("tickets", t1, R"({"owner":")" + kGlobex + R"("})");
  EXPECT_EQ(fields(kAcmeSet, "tickets", t1), "<invisible>");
  EXPECT_EQ(fields(kGlobexSet, "tickets", t1), R"({"owner":")" + kGlobex + R"(","project":[")" + p2 + R"("],"status":"open","title":"Printer"})");
}

TEST_F(AccessProjection, FieldChangesMoveRowsInAndOutOfTheFilter) {
  update("tickets", t3, R"({"status":"open"})");
  EXPECT_NE(fields(kAcmeSet, "tickets", t3), "<invisible>");
  update("tickets", t1, R"({"status":"draft"})");
  EXPECT_EQ(fields(kAcmeSet, "tickets", t1), "<invisible>");
  EXPECT_EQ(listed(kAcmeSet, "tickets"), 1u);
}

TEST_F(AccessProjection, RelationsFollowTheirTargetsVisibility) {
  commit(*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "projects",
                            parse(R"({"read":{"columns":["name"],"filter":{"field":"name","op":"eq","value":"nothing"}}})")));
  EXPECT_EQ(fields(kAcmeSet, "tickets", t1), R"({"owner":")" + kAcme + R"(","status":"open","title":"Printer"})")
      << "the project became invisible, so the ticket no longer names it";
  commit(*decide_remove_policy(ws(), "client:" + kAcme, "stakeholder", "projects"));
  EXPECT_NE(fields(kAcmeSet, "tickets", t1).find(p1), std::string::npos);
  auto del = decide_delete_record(ws(), "projects", p1, std::nullopt);
  commit(*del);
  EXPECT_EQ(fields(kAcmeSet, "tickets", t1).find(p1), std::string::npos) << "a deleted target is omitted too";
}

// Regression (isolation seed 6765469567945439077): when a policy removal drops the target's set,
// relations pointing into it must be re-projected too.
TEST_F(AccessProjection, RemovingTheTargetsPolicyHidesRelationsToIt) {
  auto t4 = create("tickets", R"({"owner":")" + kAcme + R"(","title":"x","status":"open","project":[")" + p1 + R"("]})");
  EXPECT_NE(fields(kAcmeSet, "tickets", t4).find(p1), std::string::npos);
  commit(*decide_remove_policy(ws(), "type:retainer", "stakeholder", "projects"));
  EXPECT_EQ(fields(kAcmeSet, "tickets", t4), R"({"owner":")" + kAcme + R"(","status":"open","title":"x"})");
}

TEST_F(AccessProjection, ArchivingAClientEmptiesItsSets) {
  commit(*decide_archive_client(ws(), kGlobex));
  EXPECT_EQ(listed(kGlobexSet, "tickets"), 0u);
  EXPECT_EQ(fields(kGlobexSet, "tickets", t2), "<invisible>");
  EXPECT_FALSE(kv.get(keys::route(kWs, kBob, "tickets")).has_value());
  EXPECT_NE(kv.get(keys::contact(kWs, kBob))->find(R"("active":false)"), std::string::npos);
}

TEST_F(AccessProjection, AFilterOnContactIdGivesEachContactItsOwnSet) {
  update("tickets", t1, R"({"requester":")" + kAda + R"("})");
  commit(*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets",
                            parse(R"({"read":{"columns":["title"],"filter":{"field":"requester","op":"eq","value":{"var":"contact.id"}}}})")));
  const std::string ada_set = kAcmeSet + ":" + kAda;
  const std::string amy_set = kAcmeSet + ":" + kAmy;
  EXPECT_EQ(*kv.get(keys::route(kWs, kAda, "tickets")), ada_set);
  EXPECT_EQ(*kv.get(keys::route(kWs, kAmy, "tickets")), amy_set);
  EXPECT_NE(fields(ada_set, "tickets", t1), "<invisible>");
  EXPECT_EQ(fields(amy_set, "tickets", t1), "<invisible>");
  EXPECT_EQ(listed(kAcmeSet, "tickets"), 0u) << "the shared set is gone";
  commit(*decide_deactivate_contact(ws(), kAda));
  EXPECT_EQ(listed(ada_set, "tickets"), 0u);
  EXPECT_FALSE(kv.get(keys::route(kWs, kAda, "tickets")).has_value());
}

TEST_F(AccessProjection, ARestartedProjectionContinuesLikeTheOriginal) {
  // A second projection loads the access model from the stored access events only.
  Projection restarted;
  MapKv copy = kv;
  ASSERT_TRUE(restarted.load(copy).has_value());
  auto d = decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets", parse(R"({"read":{"columns":["status"]}})"));
  ASSERT_TRUE(d.has_value());
  Envelope e{"id", (*d)[0].type, 1, kWs, (*d)[0].stream, (*d)[0].seq, TimestampMs{1'795'000'100'000}, Actor{"user", kAdmin}, "c", "", (*d)[0].data};
  ASSERT_TRUE(proj.apply(e, Position{0, offset}, kv).has_value());
  ASSERT_TRUE(restarted.apply(e, Position{0, offset}, copy).has_value());
  EXPECT_EQ(copy.data, kv.data);
}

}  // namespace
}  // namespace apexloop::projector
