// Issue 6 through the real stack: a record's history (who, when, each field before and after,
// paged), the audit NDJSON stream (filters, validation, streamed framing, upcast versions) and
// workspace isolation: a second workspace's events never appear in the first one's answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "apexloop/core/json.hpp"
#include "harness.hpp"
#include "stack.hpp"

namespace apexloop::testing {
namespace {

using Headers = std::map<std::string, std::string>;

class Audit : public ::testing::Test {
 protected:
  struct Workspace {
    std::string id, admin, admin_id, after;  // `after`: the position of its latest write
    std::string acme, globex;                // two clients
  };

  static void SetUpTestSuite() {
    stack = new Stack();
    stack->start();
    a = new Workspace(setup("Audit A", "ada@a.test", "A-canary-7f3e"));
    b = new Workspace(setup("Audit B", "bob@b.test", "B-canary-91c2"));
    std::tie(member_id, member) = join(*a, "mel@a.test", "member");
    std::tie(auditor_id, auditor) = join(*a, "aud@a.test", "auditor");
  }
  static void TearDownTestSuite() {
    delete stack;
    delete a;
    delete b;
  }

  static HttpResult call(const std::string& method, const std::string& target, const std::string& token,
                         const std::string& body = "", Headers h = {}) {
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    if (!body.empty()) h["Content-Type"] = "application/json";
    return http_request(stack->origin, method, target, body, h);
  }
  // A write that must succeed; remembers its position for read-your-writes.
  static Json write(Workspace& w, const std::string& token, const std::string& method, const std::string& target,
                    const std::string& body, Headers h = {}) {
    auto r = call(method, target, token, body, std::move(h));
    if (r.status >= 300) throw std::runtime_error(method + " " + target + ": " + std::to_string(r.status) + " " + r.body);
    if (!r.header("apexloop-position").empty()) w.after = r.header("apexloop-position");
    return r.body.empty() ? Json() : json_of(r);
  }

  static Workspace setup(const std::string& name, const std::string& email, const std::string& canary) {
    auto r = http_request(stack->origin, "POST", "/api/v1/workspaces",
                          R"({"name":")" + name + R"(","admin":{"email":")" + email + R"(","name":"Boss","password":")" +
                              kAdminPassword + R"("}})",
                          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
    if (r.status != 201) throw std::runtime_error("bootstrap: " + r.body);
    Workspace w;
    w.id = json_of(r).string_or("workspace_id", "");
    w.admin_id = json_of(r).string_or("user_id", "");
    auto s = http_request(stack->origin, "POST", "/api/v1/sessions",
                          R"({"workspace":")" + w.id + R"(","email":")" + email + R"(","password":")" + kAdminPassword + R"("})",
                          {{"Content-Type", "application/json"}});
    w.admin = json_of(s).string_or("token", "");
    write(w, w.admin, "POST", "/api/v1/client-types", R"({"key":"retainer","name":"Retainer"})");
    w.acme = write(w, w.admin, "POST", "/api/v1/clients", R"({"name":"Acme )" + canary + R"(","client_type":"retainer"})")
                 .string_or("id", "");
    w.globex = write(w, w.admin, "POST", "/api/v1/clients", R"({"name":"Globex","client_type":"retainer"})").string_or("id", "");
    write(w, w.admin, "POST", "/api/v1/databases", R"({"key":"tickets","name":"Tickets"})");
    for (const char* col : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                            R"({"key":"status","name":"Status","type":"text"})"}) {
      write(w, w.admin, "POST", "/api/v1/databases/tickets/columns", col);
    }
    return w;
  }

  static std::pair<std::string, std::string> join(Workspace& w, const std::string& email, const std::string& role) {
    const Json inv = write(w, w.admin, "POST", "/api/v1/users", R"({"email":")" + email + R"(","name":"U","role":")" + role + R"("})");
    auto r = http_request(stack->origin, "POST", "/api/v1/invitations/" + std::string(inv.string_or("invitation_token", "")) + "/accept",
                          R"({"password":"a long enough password"})", {{"Content-Type", "application/json"}});
    if (r.status != 201) throw std::runtime_error("accept: " + r.body);
    w.after = r.header("apexloop-position").empty() ? w.after : r.header("apexloop-position");
    return {std::string(inv.string_or("id", "")), std::string(json_of(r).string_or("token", ""))};
  }

  static std::string create(Workspace& w, const std::string& token, const std::string& owner, const std::string& title) {
    return std::string(write(w, token, "POST", "/api/v1/databases/tickets/records",
                             R"({"fields":{"owner":")" + owner + R"(","title":")" + title + R"(","status":"open"}})")
                           .string_or("id", ""));
  }

  // The audit stream's lines, parsed; fails the test on a line that is not JSON.
  static std::vector<Json> audit(const std::string& token, const std::string& query, const std::string& after,
                                 HttpResult* raw = nullptr) {
    auto r = call("GET", "/api/v1/audit" + query, token, "", {{"Apexloop-After", after}});
    EXPECT_EQ(r.status, 200) << query << " " << r.body.substr(0, 300);
    std::vector<Json> out;
    std::istringstream lines(r.body);
    for (std::string line; std::getline(lines, line);) {
      auto j = parse_json(line);
      EXPECT_TRUE(j.has_value()) << line;
      if (j) out.push_back(std::move(*j));
    }
    if (raw != nullptr) *raw = std::move(r);
    return out;
  }

  static inline Stack* stack = nullptr;
  static inline Workspace* a = nullptr;
  static inline Workspace* b = nullptr;
  static inline std::string member, member_id, auditor, auditor_id;
};

TEST_F(Audit, HistoryShowsEveryEventOldestFirstWithWhoWhenAndEachFieldBeforeAndAfter) {
  const std::string id = create(*a, a->admin, a->acme, "Printer");
  const std::string path = "/api/v1/databases/tickets/records/" + id;
  write(*a, member, "PATCH", path, R"({"fields":{"status":"done"}})", {{"If-Match", "1"}});
  write(*a, a->admin, "PATCH", path, R"({"fields":{"title":"Scanner","owner":")" + a->globex + R"("}})", {{"If-Match", "2"}});
  write(*a, a->admin, "DELETE", path, "", {{"If-Match", "3"}});

  auto r = call("GET", path + "/history", auditor, "", {{"Apexloop-After", a->after}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Json page = json_of(r);
  const auto& items = page.find("items")->as_array();
  ASSERT_EQ(items.size(), 4u) << r.body;
  const std::vector<std::string> types{"record.created", "record.updated", "record.updated", "record.deleted"};
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].string_or("type", ""), types[i]);
    EXPECT_EQ(items[i].find("seq")->as_int(), static_cast<std::int64_t>(i + 1)) << "oldest first";
    EXPECT_FALSE(items[i].string_or("at", "").empty());
  }
  EXPECT_EQ(items[0].find("actor")->string_or("id", ""), a->admin_id);
  EXPECT_EQ(to_json(*items[0].find("changes")->find("title")), R"({"after":"Printer"})");
  EXPECT_EQ(items[1].find("actor")->string_or("id", ""), member_id) << "the member made the second change";
  EXPECT_EQ(to_json(*items[1].find("changes")), R"({"status":{"after":"done","before":"open"}})");
  EXPECT_EQ(to_json(*items[2].find("changes")->find("title")), R"({"after":"Scanner","before":"Printer"})");
  EXPECT_EQ(items[1].string_or("owner", ""), a->acme);
  EXPECT_EQ(items[2].string_or("owner", ""), a->globex) << "the owner as of that event";
  EXPECT_EQ(to_json(*items[3].find("changes")->find("status")), R"({"before":"done"})") << "the deletion shows what was there";
  EXPECT_TRUE(page.find("next_cursor")->is_null());

  // Paged: 3 then 1, with the cursor.
  auto first = json_of(call("GET", path + "/history?limit=3", auditor));
  ASSERT_EQ(first.find("items")->as_array().size(), 3u);
  ASSERT_TRUE(first.find("next_cursor")->is_string());
  auto second = json_of(call("GET", path + "/history?limit=3&cursor=" + std::string(first.string_or("next_cursor", "")), auditor));
  ASSERT_EQ(second.find("items")->as_array().size(), 1u);
  EXPECT_EQ(second.find("items")->as_array()[0].string_or("type", ""), "record.deleted");
  EXPECT_TRUE(second.find("next_cursor")->is_null());

  EXPECT_EQ(call("GET", path + "/history", a->admin).status, 200) << "admins read history too";
  EXPECT_EQ(call("GET", path + "/history", member).status, 403) << "members may not";
  EXPECT_EQ(call("GET", path + "/history", b->admin).status, 404) << "another workspace's record does not exist here";
  EXPECT_EQ(call("GET", "/api/v1/databases/tickets/records/0190a000-0000-7000-8000-000000000bad/history", auditor).status, 404);
  auto bad = call("GET", path + "/history?cursor=zzz", auditor);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.header("content-type"), "application/problem+json");
  EXPECT_EQ(call("GET", path + "/history?limit=0", auditor).status, 400);
}

// A record only created keeps its creation's entry in itself (projector/history.hpp) until its
// first change writes it out: readers see the same entry either way, byte for byte.
TEST_F(Audit, ARecordOnlyCreatedHasItsCreationAsHistoryAndKeepsItThroughItsFirstChange) {
  const std::string id = create(*a, a->admin, a->acme, "Kept");
  const std::string path = "/api/v1/databases/tickets/records/" + id;
  auto r = call("GET", path + "/history", auditor, "", {{"Apexloop-After", a->after}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Json page = json_of(r);
  ASSERT_EQ(page.find("items")->as_array().size(), 1u) << r.body;
  const Json created = page.find("items")->as_array()[0];
  EXPECT_EQ(created.string_or("type", ""), "record.created");
  EXPECT_EQ(created.find("seq")->as_int(), 1);
  EXPECT_EQ(created.string_or("owner", ""), a->acme);
  EXPECT_EQ(created.find("actor")->string_or("id", ""), a->admin_id);
  EXPECT_EQ(to_json(*created.find("changes")),
            R"({"owner":{"after":")" + a->acme + R"("},"status":{"after":"open"},"title":{"after":"Kept"}})");
  EXPECT_TRUE(page.find("next_cursor")->is_null());
  // Paged by its key like any written entry: a page of one, and nothing after its cursor.
  auto one = json_of(call("GET", path + "/history?limit=1", auditor));
  ASSERT_EQ(one.find("items")->as_array().size(), 1u);
  EXPECT_TRUE(one.find("next_cursor")->is_null());
  auto past = call("GET", path + "/history?cursor=0000000000000001", auditor);
  ASSERT_EQ(past.status, 200) << past.body;
  EXPECT_TRUE(json_of(past).find("items")->as_array().empty()) << past.body;

  write(*a, member, "PATCH", path, R"({"fields":{"status":"done"}})", {{"If-Match", "1"}});
  auto after = call("GET", path + "/history", auditor, "", {{"Apexloop-After", a->after}});
  const Json both = json_of(after);
  ASSERT_EQ(both.find("items")->as_array().size(), 2u) << after.body;
  EXPECT_EQ(to_json(both.find("items")->as_array()[0]), to_json(created)) << "written out unchanged";
  EXPECT_EQ(both.find("items")->as_array()[1].string_or("type", ""), "record.updated");
  auto first = json_of(call("GET", path + "/history?limit=1", auditor));
  ASSERT_EQ(first.find("items")->as_array().size(), 1u);
  EXPECT_EQ(first.string_or("next_cursor", ""), "0000000000000001");
}

TEST_F(Audit, TheStreamIsNdjsonOfTheWorkspacesOwnEventsInCurrentVersions) {
  const std::string mine = create(*a, a->admin, a->acme, "Mine");
  create(*b, b->admin, b->acme, "Theirs B-canary-91c2");
  HttpResult raw;
  const auto events = audit(auditor, "", a->after, &raw);
  EXPECT_EQ(raw.header("content-type"), "application/x-ndjson");
  EXPECT_EQ(raw.header("transfer-encoding"), "chunked") << "streamed, not buffered";
  ASSERT_GT(events.size(), 10u);
  bool saw_mine = false, saw_session_v2 = false;
  for (const auto& e : events) {
    EXPECT_EQ(e.string_or("workspace", ""), a->id) << to_json(e);
    if (e.find("data")->string_or("record_id", "") == mine) saw_mine = true;
    if (e.string_or("type", "") == "session.started") {
      saw_session_v2 = true;
      EXPECT_EQ(e.find("v")->as_int(), 2);
      EXPECT_NE(e.find("data")->find("principal"), nullptr);
    }
  }
  EXPECT_TRUE(saw_mine);
  EXPECT_TRUE(saw_session_v2);
  EXPECT_EQ(raw.body.find("B-canary-91c2"), std::string::npos) << "workspace B's data in A's stream";
  EXPECT_EQ(raw.body.find(b->id), std::string::npos);
  // And the other way round.
  HttpResult theirs;
  const auto b_events = audit(b->admin, "", b->after, &theirs);
  ASSERT_FALSE(b_events.empty());
  for (const auto& e : b_events) EXPECT_EQ(e.string_or("workspace", ""), b->id);
  EXPECT_EQ(theirs.body.find("A-canary-7f3e"), std::string::npos);
  EXPECT_EQ(theirs.body.find(a->id), std::string::npos);
}

TEST_F(Audit, FiltersNarrowByTypeActorClientAndTime) {
  const std::string acme_rec = create(*a, a->admin, a->acme, "For Acme");
  const std::string globex_rec = create(*a, a->admin, a->globex, "For Globex");
  write(*a, member, "PATCH", "/api/v1/databases/tickets/records/" + acme_rec, R"({"fields":{"status":"doing"}})",
        {{"If-Match", "1"}});

  const auto updates = audit(auditor, "?type=record.updated", a->after);
  ASSERT_FALSE(updates.empty());
  for (const auto& e : updates) EXPECT_EQ(e.string_or("type", ""), "record.updated");

  const auto by_member = audit(auditor, "?actor=" + member_id, a->after);
  ASSERT_FALSE(by_member.empty());
  for (const auto& e : by_member) EXPECT_EQ(e.find("actor")->string_or("id", ""), member_id);

  const auto about_acme = audit(auditor, "?client=" + a->acme, a->after);
  bool created = false, record = false;
  for (const auto& e : about_acme) {
    const Json& d = *e.find("data");
    EXPECT_NE(d.string_or("record_id", ""), globex_rec) << "Globex's record is not about Acme";
    if (e.string_or("type", "") == "client.created" && d.string_or("client_id", "") == a->acme) created = true;
    if (d.string_or("record_id", "") == acme_rec) record = true;
    EXPECT_NE(d.string_or("client_id", a->acme), a->globex);
  }
  EXPECT_TRUE(created && record) << about_acme.size() << " events about Acme";
  // Globex's record was only created: its owner is read from the entry the record carries.
  const auto about_globex = audit(auditor, "?client=" + a->globex + "&type=record.created", a->after);
  EXPECT_TRUE(std::ranges::any_of(about_globex, [&](const Json& e) {
    return e.find("data")->string_or("record_id", "") == globex_rec;
  })) << about_globex.size() << " creations about Globex";

  // Combined: Acme's record updates by the member only.
  const auto combined = audit(auditor, "?client=" + a->acme + "&type=record.updated&actor=" + member_id, a->after);
  ASSERT_FALSE(combined.empty());
  for (const auto& e : combined) {
    EXPECT_EQ(e.string_or("type", ""), "record.updated");
    EXPECT_EQ(e.find("actor")->string_or("id", ""), member_id);
  }

  // Time: nothing before the workspace existed, nothing in the future, all of it in between.
  EXPECT_TRUE(audit(auditor, "?to=2000-01-01T00:00:00Z", a->after).empty());
  EXPECT_TRUE(audit(auditor, "?from=2999-01-01T00:00:00Z", a->after).empty());
  const auto all = audit(auditor, "", a->after);
  const auto window = audit(auditor, "?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00.000Z", a->after);
  EXPECT_EQ(window.size(), all.size());
  const std::string mid(all[all.size() / 2].string_or("at", ""));
  for (const auto& e : audit(auditor, "?from=" + mid, a->after)) EXPECT_GE(std::string(e.string_or("at", "")), mid);
}

TEST_F(Audit, BadFiltersAre400ProblemsAndOnlyAdminsAndAuditorsMayRead) {
  for (const std::string q : {"?from=yesterday", "?to=2026-13-01T00:00:00Z", "?actor=nobody", "?client=1",
                              "?type=DROP%20TABLE", "?type=record", "?colour=red",
                              "?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"}) {
    auto r = call("GET", "/api/v1/audit" + q, auditor);
    EXPECT_EQ(r.status, 400) << q;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << q;
  }
  EXPECT_EQ(call("GET", "/api/v1/audit", member).status, 403);
  EXPECT_EQ(call("GET", "/api/v1/audit", "").status, 401);
  EXPECT_EQ(call("GET", "/api/v1/audit", a->admin, "", {{"Apexloop-After", a->after}}).status, 200);
}

}  // namespace
}  // namespace apexloop::testing
