#include <gtest/gtest.h>

#include <algorithm>

#include "apexloop/core/approvals.hpp"
#include "apexloop/core/comments.hpp"
#include "apexloop/core/forms.hpp"
#include "apexloop/core/workspace.hpp"

namespace apexloop {
namespace {

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kAdmin = "0190a000-0000-7000-8000-00000000ad01";
const std::string kAcme = "0190a000-0000-7000-8000-0000000000c1";
const std::string kGlobex = "0190a000-0000-7000-8000-0000000000c2";
const std::string kAda = "0190a000-0000-7000-8000-0000000000e1";
const std::string kBob = "0190a000-0000-7000-8000-0000000000e2";
const TimestampMs kNow{1'795'000'000'000};

Json parse(std::string_view s) { return *parse_json(s); }

class PortalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    commit(*decide_create_workspace(parse(R"({"name":"A","admin":{"email":"a@x.io","name":"A","password":"0123456789"}})"), kWs, kAdmin));
    commit(*decide_define_database(ws(), parse(R"({"key":"tickets","name":"Tickets"})")));
    for (const char* c : {R"({"key":"owner","name":"Owner","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                          R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","done"]}})",
                          R"({"key":"margin","name":"Margin","type":"number","internal":true})"}) {
      commit(*decide_add_column(ws(), "tickets", parse(c)));
    }
    commit(*decide_define_client_type(ws(), parse(R"({"key":"retainer","name":"Retainer"})")));
    commit(*decide_define_portal_role(ws(), parse(R"({"key":"stakeholder","name":"Stakeholder"})")));
    commit(*decide_create_client(ws(), parse(R"({"name":"Acme","client_type":"retainer"})"), kAcme));
    commit(*decide_create_client(ws(), parse(R"({"name":"Globex","client_type":"retainer"})"), kGlobex));
    commit(*decide_invite_contact(ws(), kAcme, parse(R"({"email":"Ada@Acme.io","name":"Ada","role":"stakeholder"})"), kAda, kNow));
    commit(*decide_invite_contact(ws(), kGlobex, parse(R"({"email":"bob@globex.io","name":"Bob","role":"stakeholder"})"), kBob, kNow));
    commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                              parse(R"({"read":{"columns":["title","status"]},"write":{"columns":["status"],"create":true}})")));
  }
  void commit(const std::vector<Draft>& drafts, const Actor& actor = Actor{"user", kAdmin}) {
    for (const auto& d : drafts) {
      Envelope e{"id", d.type, 1, kWs, d.stream, d.seq, at, actor, "c", "", d.data};
      auto r = wm.apply(e, Position{0, offset++});
      ASSERT_TRUE(r.has_value()) << d.type << ": " << r.error();
    }
  }
  const WorkspaceState& ws() const { return *wm.workspace(kWs); }
  const ContactState& ada() const { return *ws().active_contact(kAda); }
  std::string record_of(const std::string& owner, const std::string& status = "open") {
    const std::string id = "0190a000-0000-7000-8000-" + std::to_string(100000000000 + offset);
    auto out = decide_create_record(ws(), "tickets", parse(R"({"fields":{"owner":")" + owner + R"(","title":"t","status":")" + status + R"("}})"),
                                    id, kAdmin, std::nullopt);
    EXPECT_TRUE(out.has_value());
    commit(out->drafts);
    return id;
  }
  // An admin's edit at time `when`.
  void admin_edit(const std::string& id, const std::string& fields, std::int64_t when) {
    at = TimestampMs{when};
    auto d = decide_update_record(ws(), "tickets", id, parse(R"({"fields":)" + fields + "}"), ws().record("tickets", id)->version);
    ASSERT_TRUE(d.has_value()) << fields;
    commit(*d);
  }
  const Policy& ada_policy() const { return ws().effective_policy(*ws().active_client(kAcme), "stakeholder", "tickets")->policy; }
  Stamp ada_sees(const std::string& id) const { return visible_stamp(*ws().record("tickets", id), ada_policy(), *ws().database("tickets")); }
  WriteModel wm;
  std::int64_t offset = 0;
  TimestampMs at = kNow;  // the time of the events committed
};

// ---- the visible version (issue 5): an edit a contact cannot read moves nothing it is shown ----

TEST(Stamps, RestampKeepsOneStampPerFieldInKeyOrder) {
  FieldStamps s;
  restamp(s, "title", Stamp{2, TimestampMs{20}});
  restamp(s, "margin", Stamp{3, TimestampMs{30}});
  restamp(s, "title", Stamp{4, TimestampMs{40}});
  restamp(s, "zeta", Stamp{5, TimestampMs{50}});
  EXPECT_EQ(s, (FieldStamps{{"margin", {3, TimestampMs{30}}}, {"title", {4, TimestampMs{40}}}, {"zeta", {5, TimestampMs{50}}}}));
}

TEST(Stamps, TheLastVisibleChangeIsTheHighestReadableStamp) {
  const FieldStamps s{{"a", {4, TimestampMs{40}}}, {"b", {7, TimestampMs{70}}}, {"c", {5, TimestampMs{50}}}};
  auto only = [](std::initializer_list<std::string_view> keys) {
    return [keys](std::string_view k) { return std::find(keys.begin(), keys.end(), k) != keys.end(); };
  };
  EXPECT_EQ(last_visible_change(s, only({"a", "b", "c"}))->stamp.version, 7u);
  EXPECT_EQ(last_visible_change(s, only({"a", "c"}))->stamp, (Stamp{5, TimestampMs{50}}));
  EXPECT_EQ(last_visible_change(s, only({"a"}))->field, "a");
  EXPECT_EQ(last_visible_change(s, only({"x"})), nullptr) << "nothing readable changed: the creation is what is shown";
  EXPECT_EQ(last_visible_change(FieldStamps{}, only({"a"})), nullptr);
}

TEST_F(PortalTest, AContactIsShownTheLastChangeItCanRead) {
  const std::string id = record_of(kAcme);  // at kNow
  const RecordState& rec = *ws().record("tickets", id);
  EXPECT_TRUE(rec.stamps.empty()) << "a record never edited keeps no stamps";
  EXPECT_EQ(ada_sees(id), (Stamp{1, kNow}));
  admin_edit(id, R"({"margin":10})", kNow.ms + 1000);
  EXPECT_EQ(rec.version, 2u);
  EXPECT_EQ(rec.updated_at, TimestampMs{kNow.ms + 1000});
  EXPECT_EQ(ada_sees(id), (Stamp{1, kNow})) << "an internal-only edit moves neither version nor updated_at for a contact";
  admin_edit(id, R"({"title":"renamed"})", kNow.ms + 2000);
  EXPECT_EQ(ada_sees(id), (Stamp{3, TimestampMs{kNow.ms + 2000}}));
  admin_edit(id, R"({"margin":11})", kNow.ms + 3000);
  EXPECT_EQ(ada_sees(id), (Stamp{3, TimestampMs{kNow.ms + 2000}}));
  admin_edit(id, R"({"status":null})", kNow.ms + 4000);
  EXPECT_EQ(ada_sees(id), (Stamp{5, TimestampMs{kNow.ms + 4000}})) << "clearing a readable field is a change the contact sees";
  admin_edit(id, R"({"margin":null})", kNow.ms + 5000);
  EXPECT_EQ(ada_sees(id), (Stamp{5, TimestampMs{kNow.ms + 4000}}));
  // Internal users read every column: they are shown the real version and time.
  EXPECT_EQ(visible_stamp(rec, [](std::string_view) { return true; }), (Stamp{rec.version, rec.updated_at}));
  // A narrower policy sees fewer changes: title only (and the owner column).
  commit(*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets", parse(R"({"read":{"columns":["title"]}})")));
  EXPECT_EQ(ada_sees(id), (Stamp{3, TimestampMs{kNow.ms + 2000}}));
  EXPECT_EQ(contact_version(ws(), ada(), "tickets", id), 3u);
  EXPECT_EQ(contact_version(ws(), ada(), "nope", id), std::nullopt);
}

TEST_F(PortalTest, AContactsIfMatchIsTheVersionItIsShown) {
  const std::string id = record_of(kAcme);
  const Json body = parse(R"({"fields":{"status":"done"}})");
  admin_edit(id, R"({"margin":10})", kNow.ms + 1000);
  // After an edit it cannot see, the contact still edits with the version it was shown ...
  EXPECT_TRUE(decide_contact_update_record(ws(), ada(), "tickets", id, body, 1, kNow).has_value());
  // ... and the real version, which it was never shown, is a stale one for it (and tells nothing).
  EXPECT_EQ(decide_contact_update_record(ws(), ada(), "tickets", id, body, 2, kNow).error().kind, CommandErrorKind::conflict);
  // Internal users still compare the real version.
  EXPECT_EQ(decide_update_record(ws(), "tickets", id, body, 1).error().kind, CommandErrorKind::conflict);
  EXPECT_TRUE(decide_update_record(ws(), "tickets", id, body, 2).has_value());
  // A change it can see makes its old version stale.
  admin_edit(id, R"({"title":"renamed"})", kNow.ms + 2000);
  EXPECT_EQ(decide_contact_update_record(ws(), ada(), "tickets", id, body, 1, kNow).error().kind, CommandErrorKind::conflict);
  auto ok = decide_contact_update_record(ws(), ada(), "tickets", id, body, 3, kNow);
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ(ok->front().seq, 4u) << "the event still carries the record's real next version";
  commit(*ok, Actor{"contact", kAda});
  EXPECT_EQ(contact_version(ws(), ada(), "tickets", id), 4u) << "its own edit is one it sees";
  EXPECT_EQ(decide_contact_update_record(ws(), ada(), "tickets", id, body, 4, kNow)->size(), 0u) << "no change, no event";
}

TEST_F(PortalTest, AContactsFiltersOnSystemFieldsSeeWhatItIsShown) {
  commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                            parse(R"({"read":{"columns":["title","status"],"filter":{"field":"version","op":"eq","value":1}},)"
                                  R"("write":{"columns":["status"]},"comment":true})")));
  const std::string id = record_of(kAcme);
  admin_edit(id, R"({"margin":10})", kNow.ms + 1000);
  // The record is at version 2 but shown as version 1, so the filter still holds: an internal
  // edit cannot hide a record from a contact (nor show one).
  const Commenter who{"contact", kAda, &ada()};
  EXPECT_TRUE(decide_add_comment(ws(), who, "tickets", id, parse(R"({"body":"hi"})"), "0190a000-0000-7000-8000-00000000cc01", kNow)
                  .has_value());
  auto edit = decide_contact_update_record(ws(), ada(), "tickets", id, parse(R"({"fields":{"status":"done"}})"), 1, kNow);
  EXPECT_EQ(edit.error().kind, CommandErrorKind::forbidden) << "the edit would take it out of the contact's view: " << edit.error().detail;
  admin_edit(id, R"({"title":"renamed"})", kNow.ms + 2000);
  EXPECT_EQ(decide_add_comment(ws(), who, "tickets", id, parse(R"({"body":"hi"})"), "0190a000-0000-7000-8000-00000000cc02", kNow)
                .error()
                .kind,
            CommandErrorKind::not_found);
}

TEST_F(PortalTest, KeysAndEmailsAreUnique) {
  EXPECT_EQ(decide_define_client_type(ws(), parse(R"({"key":"retainer","name":"x"})")).error().kind, CommandErrorKind::conflict);
  EXPECT_EQ(decide_define_portal_role(ws(), parse(R"({"key":"stakeholder","name":"x"})")).error().kind, CommandErrorKind::conflict);
  auto dup = decide_invite_contact(ws(), kAcme, parse(R"({"email":"ada@acme.io","name":"A2","role":"stakeholder"})"),
                                   "0190a000-0000-7000-8000-0000000000e9", kNow);
  EXPECT_EQ(dup.error().kind, CommandErrorKind::conflict);
  EXPECT_EQ(decide_create_client(ws(), parse(R"({"name":"X","client_type":"nope"})"), "id").error().kind, CommandErrorKind::invalid);
}

TEST_F(PortalTest, PoliciesRefuseInternalColumnsAndUnknownScopes) {
  auto internal = decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets", parse(R"({"read":{"columns":["margin"]}})"));
  EXPECT_EQ(internal.error().kind, CommandErrorKind::invalid);
  EXPECT_EQ(decide_set_policy(ws(), "type:nope", "stakeholder", "tickets", parse(R"({"read":{"columns":[]}})")).error().kind,
            CommandErrorKind::not_found);
  EXPECT_EQ(decide_set_policy(ws(), "group:x", "stakeholder", "tickets", parse(R"({"read":{"columns":[]}})")).error().kind,
            CommandErrorKind::invalid);
  EXPECT_EQ(decide_set_policy(ws(), "type:retainer", "nope", "tickets", parse(R"({"read":{"columns":[]}})")).error().kind,
            CommandErrorKind::not_found);
  EXPECT_EQ(decide_remove_policy(ws(), "client:" + kAcme, "stakeholder", "tickets").error().kind, CommandErrorKind::not_found);
}

TEST_F(PortalTest, AClientsOwnPolicyReplacesItsTypes) {
  const ClientState& acme = *ws().active_client(kAcme);
  EXPECT_EQ(ws().effective_policy(acme, "stakeholder", "tickets")->policy.read_columns.size(), 2u);
  commit(*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets", parse(R"({"read":{"columns":["title"]}})")));
  EXPECT_EQ(ws().effective_policy(*ws().active_client(kAcme), "stakeholder", "tickets")->policy.read_columns,
            std::vector<std::string>{"title"});
  EXPECT_EQ(ws().effective_policy(*ws().active_client(kGlobex), "stakeholder", "tickets")->policy.read_columns.size(), 2u);
  commit(*decide_remove_policy(ws(), "client:" + kAcme, "stakeholder", "tickets"));
  EXPECT_EQ(ws().effective_policy(*ws().active_client(kAcme), "stakeholder", "tickets")->policy.read_columns.size(), 2u);
}

TEST_F(PortalTest, AContactCreatesOnlyForItsOwnClient) {
  auto out = decide_contact_create_record(ws(), ada(), "tickets", parse(R"({"fields":{"status":"open"}})"),
                                          "0190a000-0000-7000-8000-000000000777", std::nullopt, kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->drafts[0].data.find("fields")->string_or("owner", ""), kAcme);
  auto foreign_owner = decide_contact_create_record(ws(), ada(), "tickets",
                                                    parse(R"({"fields":{"owner":")" + kGlobex + R"(","status":"open"}})"),
                                                    "0190a000-0000-7000-8000-000000000778", std::nullopt, kNow);
  EXPECT_EQ(foreign_owner.error().kind, CommandErrorKind::forbidden) << "the owner is never taken from input";
  auto hidden = decide_contact_create_record(ws(), ada(), "tickets", parse(R"({"fields":{"margin":1}})"),
                                             "0190a000-0000-7000-8000-000000000779", std::nullopt, kNow);
  EXPECT_EQ(hidden.error().kind, CommandErrorKind::forbidden);
  auto nonexistent = decide_contact_create_record(ws(), ada(), "tickets", parse(R"({"fields":{"nope":1}})"),
                                                  "0190a000-0000-7000-8000-000000000779", std::nullopt, kNow);
  EXPECT_EQ(nonexistent.error().detail, hidden.error().detail) << "a hidden column and a missing one answer alike";
  auto no_policy_db = decide_contact_create_record(ws(), ada(), "nope", parse(R"({"fields":{}})"),
                                                   "0190a000-0000-7000-8000-000000000779", std::nullopt, kNow);
  EXPECT_EQ(no_policy_db.error().kind, CommandErrorKind::not_found);
}

TEST_F(PortalTest, AContactEditsOnlyWhatItSeesAndMayWrite) {
  const std::string mine = record_of(kAcme);
  const std::string theirs = record_of(kGlobex);
  auto ok = decide_contact_update_record(ws(), ada(), "tickets", mine, parse(R"({"fields":{"status":"done"}})"), 1, kNow);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->size(), 1u);
  auto foreign = decide_contact_update_record(ws(), ada(), "tickets", theirs, parse(R"({"fields":{"status":"done"}})"), 1, kNow);
  EXPECT_EQ(foreign.error().kind, CommandErrorKind::not_found);
  auto missing = decide_contact_update_record(ws(), ada(), "tickets", "0190a000-0000-7000-8000-000000000999",
                                              parse(R"({"fields":{"status":"done"}})"), 1, kNow);
  EXPECT_EQ(missing.error().detail, foreign.error().detail) << "invisible and missing answer alike";
  auto title = decide_contact_update_record(ws(), ada(), "tickets", mine, parse(R"({"fields":{"title":"x"}})"), 1, kNow);
  EXPECT_EQ(title.error().kind, CommandErrorKind::forbidden);
  auto owner = decide_contact_update_record(ws(), ada(), "tickets", mine, parse(R"({"fields":{"owner":")" + kGlobex + R"("}})"), 1, kNow);
  EXPECT_EQ(owner.error().kind, CommandErrorKind::forbidden);
}

TEST_F(PortalTest, DeactivationAndArchivingEndAccess) {
  commit(*decide_join(ws(), kAda, parse(R"({"password":"0123456789"})")));
  EXPECT_TRUE(ws().active_contact(kAda)->joined);
  EXPECT_EQ(decide_join(ws(), kAda, parse(R"({"password":"0123456789"})")).error().kind, CommandErrorKind::not_found)
      << "an invitation is used once";
  commit(*decide_deactivate_contact(ws(), kAda));
  EXPECT_EQ(ws().active_contact(kAda), nullptr);
  commit(*decide_archive_client(ws(), kGlobex));
  EXPECT_EQ(ws().active_contact(kBob), nullptr) << "a contact of an archived client is not active";
  EXPECT_FALSE(ws().client_exists(kGlobex));
  EXPECT_EQ(decide_update_client(ws(), kGlobex, parse(R"({"name":"G"})")).error().kind, CommandErrorKind::not_found);
}

TEST_F(PortalTest, PolicyEventsAreNormalisedAndTheirStreamOnlyGrows) {
  auto set = decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets",
                               parse(R"({"read":{"columns":["title","title"],"filter":null}})"));
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(to_json(*(*set)[0].data.find("policy")), R"({"approve":false,"comment":false,"read":{"columns":["title"]}})");
  EXPECT_EQ((*set)[0].seq, 1u);
  commit(*set);
  auto removed = decide_remove_policy(ws(), "client:" + kAcme, "stakeholder", "tickets");
  EXPECT_EQ((*removed)[0].seq, 2u);
  commit(*removed);
  // Regression: a policy set again after its removal must not restart its stream at seq 1.
  EXPECT_EQ((*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets", parse(R"({"read":{"columns":[]}})")))[0].seq, 3u);
}

TEST_F(PortalTest, ViewsNameOnlyGrantableColumns) {
  auto ok = decide_define_view(ws(), "type:retainer", "tickets", "open",
                               parse(R"({"columns":["title","status","title"],"filter":{"field":"status","op":"eq","value":"open"},"sort":[{"field":"created_at","dir":"desc"}],"limit":20})"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(to_json(*(*ok)[0].data.find("columns")), R"(["title","status"])");
  EXPECT_EQ((*ok)[0].stream, "view/type:retainer/tickets/open");
  for (const char* bad : {R"({"columns":["margin"]})", R"({"columns":["title"],"filter":{"field":"margin","op":"gt","value":1}})",
                          R"({"columns":["title"],"sort":[{"field":"margin","dir":"asc"}]})",
                          R"({"columns":["title"],"sort":[{"field":"title","dir":"up"}]})", R"({"columns":["title"],"limit":501})",
                          R"({"columns":"title"})", R"({"columns":[],"extra":1})"}) {
    auto r = decide_define_view(ws(), "type:retainer", "tickets", "v", parse(bad));
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().kind, CommandErrorKind::invalid) << bad;
  }
  EXPECT_EQ(decide_define_view(ws(), "type:nope", "tickets", "v", parse(R"({"columns":[]})")).error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(decide_define_view(ws(), "type:retainer", "tickets", "Bad-Key", parse(R"({"columns":[]})")).error().kind,
            CommandErrorKind::invalid);
}

TEST_F(PortalTest, ASessionEndsOnceAndIsForgottenAfterItsExpiry) {
  const std::string sid = "0190a000-0000-7000-8000-00000000005e";
  auto d = decide_end_session(ws(), sid, Actor{"contact", kAda}, TimestampMs{kNow.ms + 60'000});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(to_json((*d)[0].data).find("ax1."), std::string::npos);
  commit(*d);
  EXPECT_TRUE(ws().ended_sessions.contains(sid));
  EXPECT_EQ(decide_end_session(ws(), sid, Actor{"contact", kAda}, kNow).error().kind, CommandErrorKind::not_found);
  EXPECT_EQ(decide_end_session(ws(), "not-a-session", Actor{"contact", kAda}, kNow).error().kind, CommandErrorKind::invalid);
}

TEST_F(PortalTest, ClientUpdatesCarryBeforeAndAfter) {
  commit(*decide_define_client_type(ws(), parse(R"({"key":"project","name":"Project"})")));
  auto d = decide_update_client(ws(), kAcme, parse(R"({"client_type":"project","name":"Acme"})"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(to_json(*(*d)[0].data.find("changes")), R"({"client_type":{"after":"project","before":"retainer"}})");
  commit(*d);
  EXPECT_EQ(ws().active_client(kAcme)->client_type, "project");
  EXPECT_EQ(ws().effective_policy(*ws().active_client(kAcme), "stakeholder", "tickets"), nullptr);
}


TEST_F(PortalTest, CommentsFollowVisibilityPolicyAndAuthorship) {
  const auto mine = record_of(kAcme);
  const auto theirs = record_of(kGlobex);
  const Commenter admin{"user", kAdmin, nullptr};
  const Commenter ada_c{"contact", kAda, &ada()};
  const std::string c1 = "0190a000-0000-7000-8000-0000000c0001";
  auto kind = [](const Decision& d) { return d ? std::optional<CommandErrorKind>() : d.error().kind; };

  // Without `comment: true` a contact may not comment; what it cannot read is not there.
  EXPECT_EQ(kind(decide_add_comment(ws(), ada_c, "tickets", mine, parse(R"({"body":"hi"})"), c1, kNow)), CommandErrorKind::forbidden);
  commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                            parse(R"({"read":{"columns":["title","status"]},"comment":true})")));
  EXPECT_EQ(kind(decide_add_comment(ws(), ada_c, "tickets", theirs, parse(R"({"body":"hi"})"), c1, kNow)), CommandErrorKind::not_found);
  EXPECT_EQ(kind(decide_add_comment(ws(), ada_c, "tickets", mine, parse(R"({"body":"hi","visibility":"internal"})"), c1, kNow)),
            CommandErrorKind::forbidden);
  for (const char* bad : {R"({"body":""})", R"({"body":"  "})", R"({"body":7})", R"({"text":"hi"})", R"({"body":"hi","visibility":"public"})", "[]"}) {
    EXPECT_EQ(kind(decide_add_comment(ws(), ada_c, "tickets", mine, parse(bad), c1, kNow)), CommandErrorKind::invalid) << bad;
  }
  EXPECT_EQ(kind(decide_add_comment(ws(), ada_c, "tickets", mine, Json(Json::Object{{"body", std::string(10'001, 'x')}}), c1, kNow)),
            CommandErrorKind::invalid);
  auto added = decide_add_comment(ws(), ada_c, "tickets", mine, parse(R"({"body":"hi"})"), c1, kNow);
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->front().data.string_or("visibility", ""), "client");
  commit(*added, Actor{"contact", kAda});

  // A user's comment is an internal note unless it says client; a contact cannot see one.
  const std::string note = "0190a000-0000-7000-8000-0000000c0002";
  auto internal = decide_add_comment(ws(), admin, "tickets", mine, parse(R"({"body":"margin is thin"})"), note, kNow);
  ASSERT_TRUE(internal.has_value());
  EXPECT_EQ(internal->front().data.string_or("visibility", ""), "internal");
  commit(*internal);
  EXPECT_EQ(kind(decide_edit_comment(ws(), ada_c, note, parse(R"({"body":"x"})"), kNow)), CommandErrorKind::not_found);
  EXPECT_EQ(kind(decide_delete_comment(ws(), ada_c, note, kNow)), CommandErrorKind::not_found);

  // Only the author changes a comment; each change continues its stream.
  EXPECT_EQ(kind(decide_edit_comment(ws(), admin, c1, parse(R"({"body":"x"})"), kNow)), CommandErrorKind::forbidden);
  auto edited = decide_edit_comment(ws(), ada_c, c1, parse(R"({"body":"hello"})"), kNow);
  ASSERT_TRUE(edited.has_value());
  EXPECT_EQ(edited->front().seq, 2u);
  commit(*edited, Actor{"contact", kAda});
  auto deleted = decide_delete_comment(ws(), ada_c, c1, kNow);
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->front().seq, 3u);
  commit(*deleted, Actor{"contact", kAda});
  EXPECT_EQ(kind(decide_edit_comment(ws(), ada_c, c1, parse(R"({"body":"again"})"), kNow)), CommandErrorKind::not_found);
  EXPECT_EQ(kind(decide_add_comment(ws(), admin, "tickets", "0190a000-0000-7000-8000-00000000ffff", parse(R"({"body":"x"})"), c1, kNow)),
            CommandErrorKind::not_found);
}


TEST_F(PortalTest, ApprovalsAreRequestedByUsersAndDecidedOnceByAContactWhoMay) {
  const auto mine = record_of(kAcme);
  const auto theirs = record_of(kGlobex);
  const Commenter admin{"user", kAdmin, nullptr};
  const Commenter ada_c{"contact", kAda, &ada()};
  const std::string a1 = "0190a000-0000-7000-8000-0000000a0001";
  auto kind = [](const Decision& d) { return d ? std::optional<CommandErrorKind>() : d.error().kind; };

  EXPECT_EQ(kind(decide_request_approval(ws(), ada_c, "tickets", mine, parse(R"({"title":"x"})"), a1)), CommandErrorKind::forbidden);
  for (const char* bad : {R"({})", R"({"title":""})", R"({"title":"ok","extra":1})", R"({"title":"ok","detail":5})"}) {
    EXPECT_EQ(kind(decide_request_approval(ws(), admin, "tickets", mine, parse(bad), a1)), CommandErrorKind::invalid) << bad;
  }
  EXPECT_EQ(kind(decide_request_approval(ws(), admin, "tickets", "0190a000-0000-7000-8000-00000000ffff", parse(R"({"title":"x"})"), a1)),
            CommandErrorKind::not_found);
  commit(*decide_request_approval(ws(), admin, "tickets", mine, parse(R"({"title":"Sign off"})"), a1));
  const std::string a2 = "0190a000-0000-7000-8000-0000000a0002";
  commit(*decide_request_approval(ws(), admin, "tickets", theirs, parse(R"({"title":"Sign off"})"), a2));

  // Without `approve: true` the contact may not; a request it cannot see is not there.
  EXPECT_EQ(kind(decide_approval(ws(), ada_c, a1, parse(R"({"decision":"approved"})"), kNow)), CommandErrorKind::forbidden);
  commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets", parse(R"({"read":{"columns":["title"]},"approve":true})")));
  EXPECT_EQ(kind(decide_approval(ws(), ada_c, a2, parse(R"({"decision":"approved"})"), kNow)), CommandErrorKind::not_found);
  EXPECT_EQ(kind(decide_approval(ws(), admin, a1, parse(R"({"decision":"approved"})"), kNow)), CommandErrorKind::forbidden);
  EXPECT_EQ(kind(decide_approval(ws(), ada_c, a1, parse(R"({"decision":"maybe"})"), kNow)), CommandErrorKind::invalid);
  auto decided = decide_approval(ws(), ada_c, a1, parse(R"({"decision":"rejected","comment":"no"})"), kNow);
  ASSERT_TRUE(decided.has_value());
  EXPECT_EQ(decided->front().seq, 2u);
  commit(*decided, Actor{"contact", kAda});
  EXPECT_EQ(ws().approvals.at(a1).status, "rejected");
  EXPECT_EQ(kind(decide_approval(ws(), ada_c, a1, parse(R"({"decision":"approved"})"), kNow)), CommandErrorKind::conflict);
}


TEST_F(PortalTest, FormsNameGrantableColumnsAndSubmissionsAreTheContactsOwnCreates) {
  const Commenter admin{"user", kAdmin, nullptr};
  auto kind = [](const auto& d) { return d ? std::optional<CommandErrorKind>() : d.error().kind; };
  const std::string good = R"({"key":"intake","title":"Intake","database":"tickets","fields":[{"column":"status","label":"Status","required":true}],"client_types":["retainer"]})";
  EXPECT_EQ(kind(decide_define_form(ws(), Commenter{"contact", kAda, &ada()}, parse(good))), CommandErrorKind::forbidden);
  for (const char* bad : {
           R"({"key":"Bad Key","title":"T","database":"tickets","fields":[{"column":"status","label":"S"}],"client_types":["retainer"]})",
           R"({"key":"f","title":"T","database":"nope","fields":[{"column":"status","label":"S"}],"client_types":["retainer"]})",
           R"({"key":"f","title":"T","database":"tickets","fields":[{"column":"margin","label":"S"}],"client_types":["retainer"]})",
           R"({"key":"f","title":"T","database":"tickets","fields":[{"column":"owner","label":"S"}],"client_types":["retainer"]})",
           R"({"key":"f","title":"T","database":"tickets","fields":[],"client_types":["retainer"]})",
           R"({"key":"f","title":"T","database":"tickets","fields":[{"column":"status","label":"S"}],"client_types":["nope"]})",
           R"({"key":"f","title":"T","database":"tickets","fields":[{"column":"status","label":"S"},{"column":"status","label":"S"}],"client_types":["retainer"]})"}) {
    EXPECT_EQ(kind(decide_define_form(ws(), admin, parse(bad))), CommandErrorKind::invalid) << bad;
  }
  commit(*decide_define_form(ws(), admin, parse(good)));
  const std::string id = "0190a000-0000-7000-8000-0000000f0001";
  // The body naming another client changes nothing: the owner is the contact's client.
  auto out = decide_submit_form(ws(), ada(), "intake", parse(R"({"fields":{"status":"open","owner":")" + kGlobex + R"("}})"), id, kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->drafts.front().data.find("fields")->string_or("owner", ""), kAcme);
  EXPECT_EQ(kind(decide_submit_form(ws(), ada(), "intake", parse(R"({"fields":{}})"), id, kNow)), CommandErrorKind::invalid);
  EXPECT_EQ(kind(decide_submit_form(ws(), ada(), "intake", parse(R"({"fields":{"title":"x","status":"open"}})"), id, kNow)),
            CommandErrorKind::invalid);  // title is not on the form
  EXPECT_EQ(kind(decide_submit_form(ws(), ada(), "other", parse(R"({"fields":{"status":"open"}})"), id, kNow)), CommandErrorKind::not_found);
  // A form for project clients is not there for a retainer's contact.
  commit(*decide_define_client_type(ws(), parse(R"({"key":"project","name":"Project"})")));
  commit(*decide_define_form(ws(), admin, parse(R"({"key":"intake","title":"Intake","database":"tickets","fields":[{"column":"status","label":"S"}],"client_types":["project"]})")));
  EXPECT_EQ(kind(decide_submit_form(ws(), ada(), "intake", parse(R"({"fields":{"status":"open"}})"), id, kNow)), CommandErrorKind::not_found);
}

}  // namespace
}  // namespace apexloop
