#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "apexloop/core/approvals.hpp"
#include "apexloop/core/comments.hpp"
#include "apexloop/core/files.hpp"
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

  void commit(const std::vector<Draft>& drafts, const Actor& actor = Actor{"user", kAdmin}) {
    for (const auto& d : drafts) {
      Envelope e{"id", d.type, 1, kWs, d.stream, d.seq, TimestampMs{1'795'000'000'000 + offset}, actor, "c", "", d.data};
      const Position at{0, offset++};
      auto r = wm.apply(e, at);
      ASSERT_TRUE(r.has_value()) << d.type << ": " << r.error();
      auto p = proj.apply(e, at, kv);
      ASSERT_TRUE(p.has_value()) << d.type << ": " << p.error();
      log.emplace_back(e, at);
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
    auto v = served_record(kv, kWs, set, rows_gen(kv, kWs, set, db), db, id);
    if (!v) return std::nullopt;
    return parse(*v);
  }
  std::string fields(const std::string& set, const std::string& db, const std::string& id) {
    auto r = seen(set, db, id);
    return r ? to_json(*r->find("fields")) : "<invisible>";
  }
  std::size_t listed(const std::string& set, const std::string& db) {
    std::size_t n = 0;
    kv.scan(keys::list_prefix(kWs, set, db, rows_gen(kv, kWs, set, db)), [&](std::string_view, std::string_view) { ++n; });
    return n;
  }
  const WorkspaceState& ws() const { return *wm.workspace(kWs); }
  void define_view(const std::string& scope, const std::string& name, const std::string& body) {
    auto d = decide_define_view(ws(), scope, "tickets", name, parse(body));
    ASSERT_TRUE(d.has_value()) << body;
    commit(*d);
  }
  // A view's rows as the projector keeps them for `set`, in order.
  std::vector<Json> view_rows(const std::string& set, const std::string& name) {
    std::vector<Json> out;
    kv.scan(keys::view_index_prefix(kWs, set, "tickets", name), [&](std::string_view, std::string_view v) { out.push_back(parse(v)); });
    return out;
  }
  static std::vector<std::string> titles(const std::vector<Json>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) out.emplace_back(r.find("fields")->string_or("title", "<none>"));
    return out;
  }

  WriteModel wm;
  Projection proj;
  MapKv kv;
  std::vector<std::pair<Envelope, Position>> log;  // every event committed, in order
  std::int64_t offset = 0;
  std::string p1, p2, t1, t2, t3;
};

// A MapKv that cannot fork: every re-projection runs on one thread.
class OneThreadKv final : public KvView {
 public:
  std::optional<std::string> get(std::string_view key) override { return map.get(key); }
  void put(std::string_view key, std::string_view value) override { map.put(key, value); }
  void del(std::string_view key) override { map.del(key); }
  void del_prefix(std::string_view prefix) override { map.del_prefix(prefix); }
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override {
    map.scan(prefix, fn);
  }
  MapKv map;
};

// Counts the rows written into principal sets' lists.
class CountingKv final : public KvView {
 public:
  std::optional<std::string> get(std::string_view key) override { return map.get(key); }
  void put(std::string_view key, std::string_view value) override {
    if ((key.find("/l/") != std::string_view::npos || key.find("/L") != std::string_view::npos) && key.starts_with("pv/")) ++list_puts;
    map.put(key, value);
  }
  void del(std::string_view key) override { map.del(key); }
  void del_prefix(std::string_view prefix) override { map.del_prefix(prefix); }
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& fn) override {
    map.scan(prefix, fn);
  }
  MapKv map;
  int list_puts = 0;
};

TEST_F(AccessProjection, APolicyChangeThatLeavesEveryRowAsItWasWritesNoRow) {
  Projection p;
  CountingKv counting;
  for (const auto& [e, at] : log) ASSERT_TRUE(p.apply(e, at, counting).has_value()) << e.type;
  const std::string acme_before = fields(kAcmeSet, "tickets", t1);
  // The same read rule, with a writable column: what each set is sent does not change.
  auto change = *decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                                   parse(R"({"read":{"columns":["title","status","project"],"filter":{"field":"status","op":"ne","value":"draft"}},)"
                                         R"("write":{"columns":["status"]}})"));
  commit(change);
  counting.list_puts = 0;
  ASSERT_TRUE(p.apply(log.back().first, log.back().second, counting).has_value());
  EXPECT_EQ(counting.list_puts, 0);
  EXPECT_EQ(fields(kAcmeSet, "tickets", t1), acme_before);
  // A change that does alter the rows writes them.
  commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets", parse(R"({"read":{"columns":["title"]}})")));
  ASSERT_TRUE(p.apply(log.back().first, log.back().second, counting).has_value());
  EXPECT_GT(counting.list_puts, 0);
  EXPECT_EQ(counting.map.data, kv.data) << "the counted projection and the fixture's agree";
}

TEST_F(AccessProjection, ReprojectingOnTwoThreadsWritesWhatOneThreadWrites) {
  // Type-wide changes touch both clients, so each one is rebuilt on its own fork.
  ASSERT_TRUE(kv.fork() != nullptr);
  for (int i = 0; i < 20; ++i) {
    create("tickets", R"({"owner":")" + (i % 3 == 0 ? kGlobex : kAcme) + R"(","title":"T)" + std::to_string(i) +
                          R"(","status":")" + (i % 2 == 0 ? "open" : "done") + R"(","project":[")" + p1 + R"("]})");
  }
  commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                            parse(R"({"read":{"columns":["title","project"],"filter":{"field":"status","op":"eq","value":"open"}}})")));
  update("tickets", t1, R"({"owner":")" + kGlobex + R"("})");
  commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "projects", parse(R"({"read":{"columns":[]}})")));
  define_view("type:retainer", "open", R"({"columns":["title"],"sort":[{"field":"title","dir":"desc"}]})");
  commit(*decide_remove_policy(ws(), "type:retainer", "stakeholder", "projects"));
  ASSERT_EQ(fields(kGlobexSet, "tickets", t1), R"({"owner":")" + kGlobex + R"(","title":"Printer"})")
      << "the moved record, its projects hidden (Acme's, and Globex's now that projects has no policy)";

  Projection serial;
  OneThreadKv one;
  for (const auto& [e, at] : log) ASSERT_TRUE(serial.apply(e, at, one).has_value()) << e.type;
  ASSERT_EQ(one.map.data.size(), kv.data.size());
  for (const auto& [k, v] : kv.data) {
    auto other = one.map.data.find(k);
    ASSERT_TRUE(other != one.map.data.end()) << k;
    EXPECT_EQ(other->second, v) << k;
  }
}

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
  EXPECT_EQ(*kv.get(keys::route(kWs, kAda, "tickets")), kAcmeSet) << "no generation yet: the set's first rows";
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
  EXPECT_EQ(keys::parse_route(*kv.get(keys::route(kWs, kAda, "tickets"))).set, ada_set);
  EXPECT_EQ(keys::parse_route(*kv.get(keys::route(kWs, kAmy, "tickets"))).set, amy_set);
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


TEST_F(AccessProjection, ViewsAreKeptInOrderCutToTheirColumnsAndFollowEdits) {
  define_view("type:retainer", "open_desc",
              R"({"columns":["title"],"filter":{"field":"status","op":"eq","value":"open"},"sort":[{"field":"title","dir":"desc"}]})");
  const auto a = create("tickets", R"({"owner":")" + kAcme + R"(","title":"Alpha","status":"open","margin":7})");
  const auto z = create("tickets", R"({"owner":")" + kAcme + R"(","title":"Zulu","status":"open"})");
  create("tickets", R"({"owner":")" + kAcme + R"(","title":"Done one","status":"done"})");
  EXPECT_EQ(titles(view_rows(kAcmeSet, "open_desc")), (std::vector<std::string>{"Zulu", "Printer", "Alpha"}));
  const auto rows = view_rows(kAcmeSet, "open_desc");
  EXPECT_EQ(to_json(*rows[0].find("fields")), R"({"owner":")" + kAcme + R"(","title":"Zulu"})");  // cut to the view
  EXPECT_EQ(titles(view_rows(kGlobexSet, "open_desc")), (std::vector<std::string>{"Globex CANARY-G"}));

  update("tickets", a, R"({"title":"Yankee"})");  // moves
  update("tickets", z, R"({"status":"done"})");   // leaves: the view's filter
  EXPECT_EQ(titles(view_rows(kAcmeSet, "open_desc")), (std::vector<std::string>{"Yankee", "Printer"}));
  update("tickets", a, R"({"status":"draft"})");  // leaves: the policy's filter
  EXPECT_EQ(titles(view_rows(kAcmeSet, "open_desc")), (std::vector<std::string>{"Printer"}));
  update("tickets", t1, R"({"owner":")" + kGlobex + R"("})");  // moves to another client's set
  EXPECT_TRUE(view_rows(kAcmeSet, "open_desc").empty());
  EXPECT_EQ(titles(view_rows(kGlobexSet, "open_desc")), (std::vector<std::string>{"Printer", "Globex CANARY-G"}));

  // Redefined, and a client's own view of the same name replaces its type's.
  define_view("client:" + kGlobex, "open_desc", R"({"columns":["status"],"sort":[{"field":"title","dir":"asc"}]})");
  EXPECT_EQ(view_rows(kGlobexSet, "open_desc").size(), 2u);
  EXPECT_EQ(to_json(*view_rows(kGlobexSet, "open_desc")[0].find("fields")), R"({"owner":")" + kGlobex + R"(","status":"open"})");
  EXPECT_EQ(view_rows(kGlobexSet, "open_desc")[0].string_or("id", ""), t2);  // "Globex CANARY-G" < "Printer"

  // Archiving the client drops its set, views included.
  commit(*decide_archive_client(ws(), kGlobex));
  std::size_t left = 0;
  kv.scan(keys::set_prefix(kWs, kGlobexSet), [&](std::string_view, std::string_view) { ++left; });
  EXPECT_EQ(left, 0u);
}

TEST_F(AccessProjection, AViewThatReadsTheClockIsLeftToQueryTime) {
  define_view("type:retainer", "recent", R"({"columns":["title"],"filter":{"field":"created_at","op":"lt","value":{"var":"now"}}})");
  EXPECT_FALSE(view_indexed(ws().views.begin()->second, true));
  EXPECT_TRUE(view_rows(kAcmeSet, "recent").empty());
  std::size_t refs = 0;
  kv.scan(keys::view_refs_prefix(kWs, kAcmeSet, "tickets"), [&](std::string_view, std::string_view) { ++refs; });
  EXPECT_EQ(refs, 0u);
}

// The kept order must be exactly the query-time order it replaces: a stable sort of the set's
// rows (creation order) by the sort keys, absent values last, numbers by value, text byte-wise,
// a descending key reversing all of that. Random records and edits, checked after every step.
TEST_F(AccessProjection, AKeptViewEqualsFilteringAndSortingTheSetAtQueryTime) {
  define_view("type:retainer", "mixed",
              R"({"columns":["title","status"],"filter":{"field":"status","op":"ne","value":"done"},)"
              R"("sort":[{"field":"status","dir":"desc"},{"field":"title","dir":"asc"},{"field":"version","dir":"desc"}]})");
  auto compare = [](const Json* a, const Json* b) {
    const bool an = a == nullptr || a->is_null(), bn = b == nullptr || b->is_null();
    if (an || bn) return an == bn ? 0 : (an ? 1 : -1);
    if (a->is_number() && b->is_number()) return (a->as_number() > b->as_number()) - (a->as_number() < b->as_number());
    return a->as_string() < b->as_string() ? -1 : a->as_string() > b->as_string() ? 1 : 0;
  };
  auto value = [](const Json& r, const std::string& f) -> const Json* {
    if (const Json* v = r.find(f)) return v;
    return r.find("fields")->find(f);
  };
  std::mt19937_64 rng(20261130);
  const std::vector<std::string> words{"", "a", "b", "ab", "B", "a\\u00e9b", "Zed", "zed"};
  const std::vector<std::string> statuses{"open", "done", "draft"};
  std::vector<std::string> ids{t1, t3};
  for (int step = 0; step < 150; ++step) {
    const std::string& word = words[rng() % words.size()];
    const std::string title = word.empty() ? "" : R"("title":")" + word + R"(",)";
    const std::string status = R"("status":")" + statuses[rng() % statuses.size()] + R"(")";
    if (rng() % 3 == 0 || ids.size() < 3) {
      ids.push_back(create("tickets", R"({"owner":")" + kAcme + R"(",)" + title + status + "}"));
    } else {
      update("tickets", ids[rng() % ids.size()], word.empty() ? "{" + status + R"(,"title":null})" : "{" + title + status + "}");
    }
    std::vector<Json> expected;
    kv.scan(keys::list_prefix(kWs, kAcmeSet, "tickets", rows_gen(kv, kWs, kAcmeSet, "tickets")), [&](std::string_view, std::string_view v) {
      Json r = parse(v);
      if (r.find("fields")->string_or("status", "") != "done") expected.push_back(std::move(r));
    });
    std::stable_sort(expected.begin(), expected.end(), [&](const Json& a, const Json& b) {
      for (const auto& [field, desc] : std::vector<std::pair<std::string, bool>>{{"status", true}, {"title", false}, {"version", true}}) {
        const int c = compare(value(a, field), value(b, field));
        if (c != 0) return desc ? c > 0 : c < 0;
      }
      return false;
    });
    const auto kept = view_rows(kAcmeSet, "mixed");
    ASSERT_EQ(kept.size(), expected.size()) << "step " << step;
    for (std::size_t i = 0; i < kept.size(); ++i) {
      ASSERT_EQ(kept[i].string_or("id", ""), expected[i].string_or("id", "")) << "step " << step << " row " << i;
    }
  }
}


TEST_F(AccessProjection, CommentsGoWhereTheirRecordIsSeenAndInternalNotesNowhereElse) {
  auto bodies = [&](std::string_view set, const std::string& record) {
    std::vector<std::string> out;
    kv.scan(keys::set_comments_prefix(kWs, set, "tickets", record), [&](std::string_view, std::string_view v) {
      out.emplace_back(parse(v).string_or("body", ""));
    });
    return out;
  };
  const Commenter admin{"user", kAdmin, nullptr};
  auto add = [&](const std::string& id, const std::string& body) {
    commit(*decide_add_comment(ws(), admin, "tickets", t1, parse(body), id, TimestampMs{0}));
  };
  add("0190a000-0000-7000-8000-0000000c0001", R"({"body":"visible one","visibility":"client"})");
  add("0190a000-0000-7000-8000-0000000c0002", R"({"body":"CANARY-NOTE margin","visibility":"internal"})");
  EXPECT_EQ(bodies(keys::kInternalSet, t1), (std::vector<std::string>{"visible one", "CANARY-NOTE margin"}));
  EXPECT_EQ(bodies(kAcmeSet, t1), (std::vector<std::string>{"visible one"}));
  EXPECT_TRUE(bodies(kGlobexSet, t1).empty());

  // The record leaves the set (a draft is not shown) and comes back: its comments follow.
  update("tickets", t1, R"({"status":"draft"})");
  EXPECT_TRUE(bodies(kAcmeSet, t1).empty());
  update("tickets", t1, R"({"status":"open"})");
  EXPECT_EQ(bodies(kAcmeSet, t1), (std::vector<std::string>{"visible one"}));

  // Edits reach every copy; a new owner's set gets the comments, the old one loses them.
  commit(*decide_edit_comment(ws(), admin, "0190a000-0000-7000-8000-0000000c0001", parse(R"({"body":"edited"})"), TimestampMs{0}));
  EXPECT_EQ(bodies(kAcmeSet, t1), (std::vector<std::string>{"edited"}));
  update("tickets", t1, R"({"owner":")" + kGlobex + R"("})");
  EXPECT_TRUE(bodies(kAcmeSet, t1).empty());
  EXPECT_EQ(bodies(kGlobexSet, t1), (std::vector<std::string>{"edited"}));
  kv.scan(keys::set_comments_prefix(kWs, kGlobexSet, "tickets", t1), [&](std::string_view, std::string_view v) {
    EXPECT_TRUE(parse(v).find("edited")->as_bool());
  });

  commit(*decide_delete_comment(ws(), admin, "0190a000-0000-7000-8000-0000000c0001", TimestampMs{0}));
  EXPECT_TRUE(bodies(kGlobexSet, t1).empty());
  EXPECT_EQ(bodies(keys::kInternalSet, t1), (std::vector<std::string>{"CANARY-NOTE margin"}));
  // No set but the internal one ever held the note.
  for (const auto& [key, value] : kv.data) {
    if (!key.starts_with(keys::set_prefix(kWs, keys::kInternalSet)) && !key.starts_with("cm/") && !key.starts_with("acl/")) {
      EXPECT_EQ(value.find("CANARY-NOTE"), std::string::npos) << key;
    }
  }
}


TEST_F(AccessProjection, ACommentsFilesAreListedWhereverTheCommentIsShownAndNowhereElse) {
  auto files_of = [&](std::string_view set, const std::string& comment_id) -> std::string {
    std::string out = "<no comment>";
    kv.scan(keys::set_comments_prefix(kWs, set, "tickets", t1), [&](std::string_view, std::string_view v) {
      const Json c = parse(v);
      if (c.string_or("id", "") == comment_id) out = c.find("files") == nullptr ? "<none>" : to_json(*c.find("files"));
    });
    return out;
  };
  const Commenter admin{"user", kAdmin, nullptr};
  const std::string c1 = "0190a000-0000-7000-8000-0000000c0001", n1 = "0190a000-0000-7000-8000-0000000c0002";
  const std::string f1 = "0190a000-0000-7000-8000-0000000f0001", f2 = "0190a000-0000-7000-8000-0000000f0002";
  commit(*decide_add_comment(ws(), admin, "tickets", t1, parse(R"({"body":"plan attached","visibility":"client"})"), c1, TimestampMs{0}));
  commit(*decide_add_comment(ws(), admin, "tickets", t1, parse(R"({"body":"margins","visibility":"internal"})"), n1, TimestampMs{0}));
  auto attach = [&](const std::string& comment, const std::string& file, const std::string& name) {
    commit(*decide_attach_file(ws(), admin, FileTarget{"tickets", t1, "", comment}, FileMeta{name, "application/pdf"}, file,
                               std::string(64, 'a'), 3, TimestampMs{0}));
  };
  attach(c1, f1, "plan.pdf");
  attach(n1, f2, "CANARY-NOTE-FILE.pdf");
  const std::string listed = R"([{"content_type":"application/pdf","id":")" + f1 + R"(","name":"plan.pdf","size":3}])";
  EXPECT_EQ(files_of(keys::kInternalSet, c1), listed);
  EXPECT_EQ(files_of(kAcmeSet, c1), listed);
  EXPECT_EQ(files_of(kGlobexSet, c1), "<no comment>");
  EXPECT_NE(files_of(keys::kInternalSet, n1).find(f2), std::string::npos);
  EXPECT_EQ(files_of(kAcmeSet, n1), "<no comment>");
  const Json meta = parse(*kv.get(keys::file(kWs, f1)));
  EXPECT_EQ(meta.string_or("comment_id", ""), c1);
  EXPECT_EQ(meta.find("column"), nullptr);

  // The files travel with the comment: out of a set and back in with its record, through an edit.
  update("tickets", t1, R"({"status":"draft"})");
  EXPECT_EQ(files_of(kAcmeSet, c1), "<no comment>");
  update("tickets", t1, R"({"status":"open"})");
  EXPECT_EQ(files_of(kAcmeSet, c1), listed);
  commit(*decide_edit_comment(ws(), admin, c1, parse(R"({"body":"the plan, v2"})"), TimestampMs{0}));
  EXPECT_EQ(files_of(kAcmeSet, c1), listed);

  // Removed: gone from every copy and from the metadata; a deleted comment's file goes quietly.
  commit(*decide_remove_file(ws(), admin, f1, TimestampMs{0}));
  EXPECT_EQ(files_of(kAcmeSet, c1), "<none>");
  EXPECT_EQ(files_of(keys::kInternalSet, c1), "<none>");
  EXPECT_FALSE(kv.get(keys::file(kWs, f1)).has_value());
  commit(*decide_delete_comment(ws(), admin, n1, TimestampMs{0}));
  commit(*decide_remove_file(ws(), admin, f2, TimestampMs{0}));
  EXPECT_FALSE(kv.get(keys::file(kWs, f2)).has_value());
  // No set but the internal one ever held the note's file.
  for (const auto& [key, value] : kv.data) {
    if (!key.starts_with(keys::set_prefix(kWs, keys::kInternalSet)) && !key.starts_with("cm/") && !key.starts_with("acl/")) {
      EXPECT_EQ(value.find("CANARY-NOTE-FILE"), std::string::npos) << key;
    }
  }
}

TEST_F(AccessProjection, ApprovalsFollowTheirRecordAndShowTheirDecision) {
  auto statuses = [&](std::string_view set) {
    std::vector<std::string> out;
    kv.scan(keys::set_approvals_prefix(kWs, set, "tickets", t1), [&](std::string_view, std::string_view v) {
      out.emplace_back(parse(v).string_or("status", ""));
    });
    return out;
  };
  const Commenter admin{"user", kAdmin, nullptr};
  const std::string a1 = "0190a000-0000-7000-8000-0000000a0001";
  commit(*decide_request_approval(ws(), admin, "tickets", t1, parse(R"({"title":"Sign off"})"), a1));
  EXPECT_EQ(statuses(kAcmeSet), (std::vector<std::string>{"pending"}));
  EXPECT_TRUE(statuses(kGlobexSet).empty());
  update("tickets", t1, R"({"status":"draft"})");
  EXPECT_TRUE(statuses(kAcmeSet).empty());
  EXPECT_EQ(statuses(keys::kInternalSet), (std::vector<std::string>{"pending"}));
  update("tickets", t1, R"({"status":"open"})");
  commit(*decide_set_policy(ws(), "type:retainer", "stakeholder", "tickets",
                            parse(R"({"read":{"columns":["title","status","project"],"filter":{"field":"status","op":"ne","value":"draft"}},"approve":true})")));
  EXPECT_EQ(statuses(kAcmeSet), (std::vector<std::string>{"pending"}));
  const Commenter ada_c{"contact", kAda, ws().active_contact(kAda)};
  commit(*decide_approval(ws(), ada_c, a1, parse(R"({"decision":"approved"})"), TimestampMs{1'795'000'000'000 + offset}),
         Actor{"contact", kAda});
  EXPECT_EQ(statuses(kAcmeSet), (std::vector<std::string>{"approved"}));
  EXPECT_EQ(statuses(keys::kInternalSet), (std::vector<std::string>{"approved"}));
}


// ---- the visible version (issue 5) ----

// Everything the projector keeps for one set: rows, views, comments, notices, listings.
std::map<std::string, std::string> set_bytes(const MapKv& kv, const std::string& set) {
  std::map<std::string, std::string> out;
  const std::string prefix = keys::set_prefix(kWs, set);
  for (auto it = kv.data.lower_bound(prefix); it != kv.data.end() && it->first.starts_with(prefix); ++it) out.insert(*it);
  return out;
}

TEST_F(AccessProjection, AnEditOfAColumnASetCannotReadLeavesItsBytesAsTheyWere) {
  define_view("type:retainer", "recent", R"({"columns":["title"],"sort":[{"field":"updated_at","dir":"desc"}]})");
  const std::string t4 = create("tickets", R"({"owner":")" + kAcme + R"(","title":"Later","status":"open"})");
  EXPECT_EQ(titles(view_rows(kAcmeSet, "recent")), (std::vector<std::string>{"Later", "Printer"}));
  const auto acme = set_bytes(kv, kAcmeSet);
  const auto globex = set_bytes(kv, kGlobexSet);
  ASSERT_FALSE(acme.empty());
  const std::string internal_before = *served_record(kv, kWs, keys::kInternalSet, "", "tickets", t1);

  update("tickets", t1, R"({"margin":7})");
  update("tickets", t1, R"({"margin":null})");
  EXPECT_EQ(set_bytes(kv, kAcmeSet), acme) << "an internal-only edit changed what a contact set holds";
  EXPECT_EQ(set_bytes(kv, kGlobexSet), globex);
  const Json internal = *seen(std::string(keys::kInternalSet), "tickets", t1);
  EXPECT_NE(to_json(internal), internal_before);
  EXPECT_EQ(internal.find("version")->as_int(), 3) << "internal users are shown the real version";
  const Json shown = *seen(kAcmeSet, "tickets", t1);
  EXPECT_EQ(shown.find("version")->as_int(), 1);
  EXPECT_EQ(shown.string_or("updated_at", ""), shown.string_or("created_at", ""));
  EXPECT_NE(internal.string_or("updated_at", ""), shown.string_or("updated_at", ""));

  // A change it can read: the set is shown that event's version and time, and a view sorted by
  // updated_at follows.
  update("tickets", t1, R"({"title":"Printer jam"})");
  const Json now_internal = *seen(std::string(keys::kInternalSet), "tickets", t1);
  const Json now_shown = *seen(kAcmeSet, "tickets", t1);
  EXPECT_EQ(now_shown.find("version")->as_int(), 4);
  EXPECT_EQ(now_shown.string_or("updated_at", ""), now_internal.string_or("updated_at", ""));
  const auto rows = view_rows(kAcmeSet, "recent");
  EXPECT_EQ(titles(rows), (std::vector<std::string>{"Printer jam", "Later"}));
  EXPECT_EQ(rows[0].find("version")->as_int(), 4);
  EXPECT_EQ(set_bytes(kv, kGlobexSet), globex);

  // Per set: a column one client's policy reads and another's does not.
  commit(*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets", parse(R"({"read":{"columns":["title"]}})")));
  const auto acme_title_only = set_bytes(kv, kAcmeSet);
  update("tickets", t4, R"({"status":"done"})");
  EXPECT_EQ(set_bytes(kv, kAcmeSet), acme_title_only) << "status is not Acme's to read any more";
  // Internal bytes of t4 moved; what a client reading status would see is its version 2.
  EXPECT_EQ(seen(std::string(keys::kInternalSet), "tickets", t4)->find("version")->as_int(), 2);
  commit(*decide_remove_policy(ws(), "client:" + kAcme, "stakeholder", "tickets"));
  EXPECT_EQ(seen(kAcmeSet, "tickets", t4)->find("version")->as_int(), 2) << "with status readable again, its change shows";
}

// The projector and the command service decide what a contact is shown with one rule: random
// edits, and after each the served version and updated_at equal the write model's answer.
TEST_F(AccessProjection, ServedVersionsAreTheWriteModelsVisibleStamps) {
  std::mt19937_64 rng(5);
  const std::vector<std::string> edits{R"({"margin":1})", R"({"margin":2})", R"({"margin":null})", R"({"title":"x"})",
                                       R"({"title":"y"})", R"({"status":"done"})", R"({"status":"open"})", R"({"requester":")" + kAda + R"("})",
                                       R"({"requester":null})", R"({"title":"z","margin":3})"};
  const std::vector<std::string> ids{t1, t2, t3};
  for (int step = 0; step < 200; ++step) {
    update("tickets", ids[rng() % ids.size()], edits[rng() % edits.size()]);
    if (step % 50 == 49) {
      // Narrow and widen Acme's columns now and then: re-projection uses the same rule.
      const bool narrow = step % 100 == 49;
      commit(*decide_set_policy(ws(), "client:" + kAcme, "stakeholder", "tickets",
                                parse(narrow ? R"({"read":{"columns":["title"]}})" : R"({"read":{"columns":["status","requester"]}})")));
    }
    for (const auto& [set, client] : {std::pair{kAcmeSet, kAcme}, std::pair{kGlobexSet, kGlobex}}) {
      const Policy& policy = ws().effective_policy(*ws().active_client(client), "stakeholder", "tickets")->policy;
      for (const auto& id : ids) {
        auto row = seen(set, "tickets", id);
        if (!row) continue;
        const Stamp expected = visible_stamp(*ws().record("tickets", id), policy, *ws().database("tickets"));
        ASSERT_EQ(static_cast<std::uint64_t>(row->find("version")->as_int()), expected.version) << "step " << step << " " << id;
        ASSERT_EQ(row->string_or("updated_at", ""), format_timestamp(expected.at)) << "step " << step << " " << id;
      }
    }
  }
}

TEST_F(AccessProjection, NoticesSayOnlyWhatTheSetCanSee) {
  auto notices = [&](std::string_view set) {
    std::vector<std::string> out;
    kv.scan(keys::notices_prefix(kWs, set), [&](std::string_view, std::string_view v) {
      const Json n = parse(v);
      out.push_back(std::string(n.string_or("kind", "")) + " " + std::string(n.string_or("summary", "")));
    });
    return out;
  };
  // SetUp created p1 and t1 (Acme's), p2 and t2 (Globex's) and t3 (Acme's, a draft it cannot see).
  const std::vector<std::string> two_new{"record_created new record", "record_created new record"};
  EXPECT_EQ(notices(kAcmeSet), two_new);
  EXPECT_EQ(notices(kGlobexSet), two_new);

  const auto before = kv.data;
  update("tickets", t1, R"({"margin":7})");  // internal: nothing any contact is sent changes
  for (const auto& [key, value] : kv.data) {
    if (key.find("/n/") != std::string::npos) {
      EXPECT_EQ(before.count(key), 1u) << "a notice for an internal edit: " << key;
    }
  }
  update("tickets", t1, R"({"title":"Printer jam","margin":8})");
  update("tickets", t3, R"({"status":"open"})");  // the draft becomes visible
  EXPECT_EQ(notices(kAcmeSet), (std::vector<std::string>{"record_created new record", "record_created new record",
                                                        "record_updated changed: title", "record_shown now shown to you"}));
  const Commenter admin{"user", kAdmin, nullptr};
  commit(*decide_add_comment(ws(), admin, "tickets", t1, parse(R"({"body":"CANARY-NOTE internal"})"),
                             "0190a000-0000-7000-8000-0000000c0009", TimestampMs{0}));
  commit(*decide_add_comment(ws(), admin, "tickets", t1, parse(R"({"body":"We are on it","visibility":"client"})"),
                             "0190a000-0000-7000-8000-0000000c0010", TimestampMs{0}));
  commit(*decide_request_approval(ws(), admin, "tickets", t1, parse(R"({"title":"Sign off"})"), "0190a000-0000-7000-8000-0000000a0009"));
  const auto acme = notices(kAcmeSet);
  ASSERT_EQ(acme.size(), 6u);
  EXPECT_EQ(acme[4], "comment_added We are on it");
  EXPECT_EQ(acme[5], "approval_requested Sign off");
  EXPECT_EQ(notices(kGlobexSet), two_new);
  for (const auto& [key, value] : kv.data) {
    if (key.find("/n/") != std::string::npos) {
      EXPECT_EQ(value.find("CANARY-NOTE"), std::string::npos) << key;
    }
  }
}

}  // namespace
}  // namespace apexloop::projector
