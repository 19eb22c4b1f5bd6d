// End to end through a real Kafka broker (KAFKA_BOOTSTRAP, started by tests/run.sh), the three
// real service binaries, real RocksDB and nginx as the one origin.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "apexloop/core/json.hpp"
#include "apexloop/events/kafka.hpp"
#include "harness.hpp"
#include "stack.hpp"

namespace apexloop::testing {
namespace {

using namespace std::chrono_literals;

class EndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack();
    stack->start();
    auto ws = http_request(stack->origin, "POST", "/api/v1/workspaces",
                           R"({"name":"Acme Studio","admin":{"email":"ada@acme.test","name":"Ada","password":")" +
                               kAdminPassword + R"("}})",
                           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
    ASSERT_EQ(ws.status, 201) << ws.body;
    workspace = json_of(ws).string_or("workspace_id", "");
    auto session = http_request(stack->origin, "POST", "/api/v1/sessions",
                                R"({"workspace":")" + workspace + R"(","email":"Ada@acme.test","password":")" +
                                    kAdminPassword + R"("})",
                                {{"Content-Type", "application/json"}});
    ASSERT_EQ(session.status, 201) << session.body;
    token = json_of(session).string_or("token", "");
    ASSERT_FALSE(token.empty());
    ASSERT_EQ(post("/api/v1/databases", R"({"key":"tickets","name":"Tickets"})").status, 201);
    for (const char* col : {R"({"key":"title","name":"Title","type":"text"})",
                            R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","in_progress","done"]}})",
                            R"({"key":"amount","name":"Amount","type":"money","options":{"currency":"EUR"}})",
                            R"({"key":"due","name":"Due","type":"date"})",
                            R"({"key":"cost","name":"Internal cost","type":"number","internal":true})"}) {
      auto r = post("/api/v1/databases/tickets/columns", col);
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }

  static void TearDownTestSuite() {
    // Regression: a failed dump used to skip the delete below and leave the services running.
    std::unique_ptr<Stack> owned(stack);
    stack = nullptr;
    if (const char* dump = std::getenv("APEXLOOP_EVENT_DUMP"); dump != nullptr && owned != nullptr) {
      try {
        std::ofstream out(dump, std::ios::trunc);
        for (const auto& m : owned->read_log()) out << m.value << "\n";
      } catch (const std::exception& e) {
        ADD_FAILURE() << "could not dump the log: " << e.what();
      }
    }
  }

  static std::map<std::string, std::string> auth(std::map<std::string, std::string> h = {}) {
    h["Authorization"] = "Bearer " + token;
    return h;
  }
  static HttpResult post(const std::string& target, const std::string& body, std::map<std::string, std::string> h = {}) {
    h["Content-Type"] = "application/json";
    return http_request(stack->origin, "POST", target, body, auth(h));
  }
  static HttpResult patch(const std::string& target, const std::string& body, const std::string& version) {
    return http_request(stack->origin, "PATCH", target, body,
                        auth({{"Content-Type", "application/json"}, {"If-Match", "\"" + version + "\""}}));
  }
  static HttpResult get(const std::string& target, const std::string& after = "") {
    std::map<std::string, std::string> h;
    if (!after.empty()) h["Apexloop-After"] = after;
    return http_request(stack->origin, "GET", target, "", auth(h));
  }

  static void expect_problem(const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
    auto j = parse_json(r.body);
    ASSERT_TRUE(j.has_value()) << r.body;
    EXPECT_EQ(j->find("status")->as_int(), status);
    EXPECT_FALSE(j->string_or("title", "").empty());
  }

  static inline Stack* stack = nullptr;
  static inline std::string workspace;
  static inline std::string token;
  // Every password and raw token a test used, for the final scan of the logs.
  static inline std::vector<std::string> secrets;
};

TEST_F(EndToEnd, CreateThenReadBackThroughTheOrigin) {
  auto created = post("/api/v1/databases/tickets/records",
                      R"({"fields":{"title":"Printer on fire","status":"open","amount":{"amount":"120.50"},"due":"2026-12-24"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(json_of(created).string_or("id", ""));
  const std::string position = created.header("apexloop-position");
  ASSERT_TRUE(std::regex_match(position, std::regex(R"(\d+:\d+)"))) << position;

  auto read = get("/api/v1/databases/tickets/records/" + id, position);
  ASSERT_EQ(read.status, 200) << read.body;
  const Json rec = json_of(read);
  EXPECT_EQ(rec.string_or("id", ""), id);
  EXPECT_EQ(rec.find("version")->as_int(), 1);
  EXPECT_EQ(read.header("etag"), "\"1\"");
  EXPECT_EQ(to_json(*rec.find("fields")),
            R"({"amount":{"amount":"120.50","currency":"EUR"},"due":"2026-12-24","status":"open","title":"Printer on fire"})");

  auto dbs = get("/api/v1/databases");
  ASSERT_EQ(dbs.status, 200);
  EXPECT_NE(dbs.body.find(R"("key":"tickets")"), std::string::npos);
  EXPECT_NE(dbs.body.find(R"("type":"money")"), std::string::npos);
}

TEST_F(EndToEnd, StaleIfMatchIsAConflict) {
  auto created = post("/api/v1/databases/tickets/records", R"({"fields":{"title":"Invoice","status":"open"}})");
  ASSERT_EQ(created.status, 201);
  const std::string path = "/api/v1/databases/tickets/records/" + std::string(json_of(created).string_or("id", ""));
  auto first = patch(path, R"({"fields":{"status":"in_progress"}})", "1");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(json_of(first).find("version")->as_int(), 2);
  const auto before = stack->log_size();
  auto stale = patch(path, R"({"fields":{"status":"done"}})", "1");
  expect_problem(stale, 409);
  EXPECT_EQ(stack->log_size(), before) << "a conflict appends nothing";
  auto read = get(path, first.header("apexloop-position"));
  EXPECT_NE(read.body.find(R"("status":"in_progress")"), std::string::npos) << read.body;
  EXPECT_NE(read.body.find(R"("version":2)"), std::string::npos);
  auto missing_if_match = http_request(stack->origin, "PATCH", path, R"({"fields":{"status":"done"}})",
                                       auth({{"Content-Type", "application/json"}}));
  expect_problem(missing_if_match, 428);
}

TEST_F(EndToEnd, RetriedCreateWithTheSameIdempotencyKeyMakesOneRecord) {
  ASSERT_EQ(post("/api/v1/databases", R"({"key":"requests","name":"Requests"})").status, 201);
  ASSERT_EQ(post("/api/v1/databases/requests/columns", R"({"key":"title","name":"Title","type":"text"})").status, 201);
  const auto before = stack->log_size();
  auto a = post("/api/v1/databases/requests/records", R"({"fields":{"title":"once"}})", {{"Idempotency-Key", "req-42"}});
  auto b = post("/api/v1/databases/requests/records", R"({"fields":{"title":"once"}})", {{"Idempotency-Key", "req-42"}});
  ASSERT_EQ(a.status, 201) << a.body;
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(json_of(a).string_or("id", "a"), json_of(b).string_or("id", "b"));
  EXPECT_EQ(a.header("apexloop-position"), b.header("apexloop-position"));
  EXPECT_EQ(stack->log_size(), before + 1);
  auto list = get("/api/v1/databases/requests/records", b.header("apexloop-position"));
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(json_of(list).find("items")->as_array().size(), 1u) << list.body;
  auto reused = post("/api/v1/databases/requests/records", R"({"fields":{"title":"different"}})",
                     {{"Idempotency-Key", "req-42"}});
  expect_problem(reused, 422);
}

TEST_F(EndToEnd, BadInputGetsAProblemAndAppendsNothing) {
  const auto before = stack->log_size();
  expect_problem(post("/api/v1/databases/tickets/records", R"({"fields":{"title":)"), 400);
  expect_problem(http_request(stack->origin, "POST", "/api/v1/databases/tickets/records", R"({"fields":{}})",
                              auth({{"Content-Type", "text/plain"}})),
                 415);
  auto invalid = post("/api/v1/databases/tickets/records", R"({"fields":{"status":"lost","due":"2026-02-30","nope":1}})");
  expect_problem(invalid, 422);
  EXPECT_EQ(json_of(invalid).find("errors")->as_array().size(), 3u) << invalid.body;
  expect_problem(post("/api/v1/databases/nope/records", R"({"fields":{}})"), 404);
  expect_problem(get("/api/v1/databases/tickets/records/0190a000-0000-7000-8000-000000000000"), 404);
  expect_problem(get("/api/v1/databases/nope/records"), 404);
  expect_problem(http_request(stack->origin, "GET", "/api/v1/databases"), 401);
  expect_problem(http_request(stack->origin, "GET", "/api/v1/databases", "", {{"Authorization", "Bearer ax1.forged.x"}}), 401);
  expect_problem(post("/api/v1/databases/tickets/records", "{\"fields\":{\"title\":\"" + std::string(1024 * 1024 + 10, 'x') + "\"}}"),
                 413);
  std::string deep(100'000, '[');
  deep += std::string(100'000, ']');
  expect_problem(post("/api/v1/databases/tickets/records", deep), 400);
  expect_problem(get("/api/v1/databases/tickets/records?limit=501"), 400);
  expect_problem(get("/api/v1/databases/tickets/records?cursor=zz"), 400);
  EXPECT_EQ(stack->log_size(), before) << "bad input must append nothing";
  EXPECT_TRUE(stack->command.running());
  EXPECT_TRUE(stack->query.running());
}

TEST_F(EndToEnd, HostileFramingIsRefusedByTheServiceItself) {
  // Content-Length and Transfer-Encoding together: the request-smuggling shape.
  const std::string smuggle =
      "POST /api/v1/databases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  const std::string answer = raw_exchange(stack->command_port, smuggle);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 400")) << answer;
  // Headers over the limit.
  const std::string big = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_TRUE(raw_exchange(stack->query_port, big).starts_with("HTTP/1.1 431"));
  // A client waiting for 100 Continue gets it at once instead of stalling.
  const std::string expect =
      "POST /api/v1/databases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n";
  EXPECT_TRUE(raw_exchange(stack->command_port, expect, 500ms).starts_with("HTTP/1.1 100 Continue"));
  EXPECT_TRUE(stack->command.running());
}

TEST_F(EndToEnd, DeleteRemovesTheRecordFromReads) {
  auto created = post("/api/v1/databases/tickets/records", R"({"fields":{"title":"short-lived"}})");
  ASSERT_EQ(created.status, 201);
  const std::string path = "/api/v1/databases/tickets/records/" + std::string(json_of(created).string_or("id", ""));
  auto del = http_request(stack->origin, "DELETE", path, "", auth({{"If-Match", "\"1\""}}));
  ASSERT_EQ(del.status, 204) << del.body;
  expect_problem(get(path, del.header("apexloop-position")), 404);
  expect_problem(http_request(stack->origin, "DELETE", path, "", auth()), 404);
}

TEST_F(EndToEnd, ListsPageWithStableCursors) {
  ASSERT_EQ(post("/api/v1/databases", R"({"key":"pages","name":"Pages"})").status, 201);
  ASSERT_EQ(post("/api/v1/databases/pages/columns", R"({"key":"n","name":"N","type":"number"})").status, 201);
  std::string last;
  for (int i = 0; i < 7; ++i) {
    auto r = post("/api/v1/databases/pages/records", R"({"fields":{"n":)" + std::to_string(i) + "}}");
    ASSERT_EQ(r.status, 201);
    last = r.header("apexloop-position");
  }
  std::vector<std::int64_t> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto r = get("/api/v1/databases/pages/records?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), last);
    ASSERT_EQ(r.status, 200) << r.body;
    const Json page = json_of(r);
    for (const auto& item : page.find("items")->as_array()) seen.push_back(item.find("fields")->find("n")->as_int());
    const Json* next = page.find("next_cursor");
    cursor = next->is_string() ? next->as_string() : "";
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

// The access model end to end: two clients, their contacts, a policy, through the real stack.
TEST_F(EndToEnd, ContactsSeeOnlyTheirOwnRowsAndTheColumnsTheyAreGranted) {
  auto ok = [](const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    return r;
  };
  ok(post("/api/v1/client-types", R"({"key":"retainer","name":"Retainer"})"), 201);
  ok(post("/api/v1/portal-roles", R"({"key":"stakeholder","name":"Stakeholder"})"), 201);
  const std::string acme(json_of(ok(post("/api/v1/clients", R"({"name":"Acme","client_type":"retainer"})"), 201)).string_or("id", ""));
  const std::string globex(json_of(ok(post("/api/v1/clients", R"({"name":"Globex","client_type":"retainer"})"), 201)).string_or("id", ""));
  ok(post("/api/v1/databases", R"({"key":"deliverables","name":"Deliverables"})"), 201);
  for (const char* col : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                          R"({"key":"status","name":"Status","type":"select","options":{"choices":["draft","review","approved"]}})",
                          R"({"key":"margin","name":"Margin","type":"number","internal":true})"}) {
    ok(post("/api/v1/databases/deliverables/columns", col), 201);
  }
  expect_problem(http_request(stack->origin, "PUT", "/api/v1/policies/type:retainer/stakeholder/deliverables",
                              R"({"read":{"columns":["title","margin"]}})", auth({{"Content-Type", "application/json"}})),
                 422);
  ok(http_request(stack->origin, "PUT", "/api/v1/policies/type:retainer/stakeholder/deliverables",
                  R"({"read":{"columns":["title","status"]},"write":{"columns":["status"]}})", auth({{"Content-Type", "application/json"}})),
     200);
  auto invite = [&](const std::string& client, const std::string& email) {
    return json_of(ok(post("/api/v1/clients/" + client + "/contacts", R"({"email":")" + email + R"(","name":"C","role":"stakeholder"})"), 201));
  };
  const Json ada_invite = invite(acme, "ada.client@acme.test");
  const Json bob_invite = invite(globex, "bob@globex.test");
  auto accept = [&](const Json& inv) {
    return http_request(stack->origin, "POST", "/api/v1/invitations/" + std::string(inv.string_or("invitation_token", "")) + "/accept",
                        R"({"name":"Contact","password":"a long contact password"})", {{"Content-Type", "application/json"}});
  };
  const auto ada_session = ok(accept(ada_invite), 201);
  EXPECT_EQ(json_of(ada_session).find("principal")->string_or("kind", ""), "contact");
  EXPECT_EQ(json_of(ada_session).find("principal")->string_or("client_id", ""), acme);
  const std::string ada(json_of(ada_session).string_or("token", ""));
  const auto reused = accept(ada_invite);
  const auto forged = http_request(stack->origin, "POST", "/api/v1/invitations/" + std::string(43, 'A') + "/accept",
                                   R"({"name":"Contact","password":"a long contact password"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(reused.status, 404);
  EXPECT_EQ(reused.body, forged.body) << "a used and a forged token answer alike";
  const std::string bob(json_of(ok(accept(bob_invite), 201)).string_or("token", ""));
  secrets.insert(secrets.end(), {std::string(ada_invite.string_or("invitation_token", "-")),
                                 std::string(bob_invite.string_or("invitation_token", "-")), "a long contact password", ada, bob});

  const std::string d1(json_of(ok(post("/api/v1/databases/deliverables/records",
                                       R"({"fields":{"owner":")" + acme + R"(","title":"Logo CANARY-A","status":"review","margin":99}})"), 201))
                           .string_or("id", ""));
  auto d2r = ok(post("/api/v1/databases/deliverables/records",
                     R"({"fields":{"owner":")" + globex + R"(","title":"Site CANARY-G","status":"draft"}})"), 201);
  const std::string d2(json_of(d2r).string_or("id", ""));
  const std::string pos = d2r.header("apexloop-position");
  auto as = [&](const std::string& token, const std::string& method, const std::string& target, const std::string& body = "",
                std::map<std::string, std::string> h = {}) {
    h["Authorization"] = "Bearer " + token;
    h["Apexloop-After"] = pos;
    if (!body.empty()) h["Content-Type"] = "application/json";
    return http_request(stack->origin, method, target, body, h);
  };

  const auto dbs = ok(as(ada, "GET", "/api/v1/databases"), 200);
  EXPECT_EQ(json_of(dbs).find("items")->as_array().size(), 1u) << dbs.body;
  EXPECT_EQ(dbs.body.find("margin"), std::string::npos);
  const auto list = ok(as(ada, "GET", "/api/v1/databases/deliverables/records"), 200);
  ASSERT_EQ(json_of(list).find("items")->as_array().size(), 1u) << list.body;
  EXPECT_EQ(to_json(*json_of(list).find("items")->as_array()[0].find("fields")),
            R"({"owner":")" + acme + R"(","status":"review","title":"Logo CANARY-A"})");
  const auto foreign = as(ada, "GET", "/api/v1/databases/deliverables/records/" + d2);
  const auto missing = as(ada, "GET", "/api/v1/databases/deliverables/records/0190a000-0000-7000-8000-000000000000");
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.body, missing.body) << "not visible answers exactly like not there";
  expect_problem(as(ada, "GET", "/api/v1/databases/tickets/records"), 404);
  for (const auto& r : {dbs, list, foreign}) EXPECT_EQ(r.body.find("CANARY-G"), std::string::npos);
  const auto bob_list = ok(as(bob, "GET", "/api/v1/databases/deliverables/records"), 200);
  EXPECT_EQ(bob_list.body.find("CANARY-A"), std::string::npos);
  EXPECT_NE(bob_list.body.find("CANARY-G"), std::string::npos);

  // A view narrows the contact's own rows: its columns, its filter, its sort and page size.
  const std::string d3(json_of(ok(post("/api/v1/databases/deliverables/records",
                                       R"({"fields":{"owner":")" + acme + R"(","title":"Brochure","status":"review"}})"), 201))
                           .string_or("id", ""));
  ok(post("/api/v1/databases/deliverables/records", R"({"fields":{"owner":")" + acme + R"(","title":"Banner","status":"draft"}})"), 201);
  expect_problem(http_request(stack->origin, "PUT", "/api/v1/views/type:retainer/deliverables/in_review",
                              R"({"columns":["margin"]})", auth({{"Content-Type", "application/json"}})),
                 422);
  auto view_set = ok(http_request(stack->origin, "PUT", "/api/v1/views/type:retainer/deliverables/in_review",
                                  R"({"columns":["title"],"filter":{"field":"status","op":"eq","value":"review"},"sort":[{"field":"title","dir":"asc"}],"limit":1})",
                                  auth({{"Content-Type", "application/json"}})),
                     200);
  auto page1 = ok(http_request(stack->origin, "GET", "/api/v1/databases/deliverables/records?view=in_review", "",
                               {{"Authorization", "Bearer " + ada}, {"Apexloop-After", view_set.header("apexloop-position")}}),
                  200);
  EXPECT_TRUE(page1.body.starts_with(R"({"items":[{"id":")")) << "view rows keep the documented member order: " << page1.body;
  const Json p1 = json_of(page1);
  ASSERT_EQ(p1.find("items")->as_array().size(), 1u) << page1.body;
  EXPECT_EQ(to_json(*p1.find("items")->as_array()[0].find("fields")), R"({"owner":")" + acme + R"(","title":"Brochure"})");
  auto page2 = ok(as(ada, "GET", "/api/v1/databases/deliverables/records?view=in_review&cursor=" + std::string(p1.string_or("next_cursor", ""))), 200);
  const Json p2 = json_of(page2);
  ASSERT_EQ(p2.find("items")->as_array().size(), 1u) << page2.body;
  EXPECT_EQ(p2.find("items")->as_array()[0].string_or("id", ""), d1);
  EXPECT_TRUE(p2.find("next_cursor")->is_null());
  expect_problem(as(ada, "GET", "/api/v1/databases/deliverables/records?view=nope"), 404);
  EXPECT_EQ(as(bob, "GET", "/api/v1/databases/deliverables/records?view=in_review").body.find("CANARY-A"), std::string::npos);

  // Comments: contacts see the client-visible ones on records they see, never internal notes.
  ok(post("/api/v1/databases/deliverables/records/" + d1 + "/comments", R"({"body":"Draft attached","visibility":"client"})"), 201);
  const auto note = ok(post("/api/v1/databases/deliverables/records/" + d1 + "/comments", R"({"body":"CANARY-NOTE they pay late"})"), 201);
  auto comments_as = [&](const std::string& token, const std::string& record) {
    return http_request(stack->origin, "GET", "/api/v1/databases/deliverables/records/" + record + "/comments", "",
                        {{"Authorization", "Bearer " + token}, {"Apexloop-After", note.header("apexloop-position")}});
  };
  const auto seen = ok(comments_as(ada, d1), 200);
  ASSERT_EQ(json_of(seen).find("items")->as_array().size(), 1u) << seen.body;
  EXPECT_EQ(json_of(seen).find("items")->as_array()[0].string_or("body", ""), "Draft attached");
  EXPECT_EQ(seen.body.find("CANARY-NOTE"), std::string::npos);
  const auto all = ok(comments_as(token, d1), 200);
  EXPECT_EQ(json_of(all).find("items")->as_array().size(), 2u) << all.body;
  const auto foreign_comments = comments_as(bob, d1);
  EXPECT_EQ(foreign_comments.status, 404);
  EXPECT_EQ(foreign_comments.body.find("CANARY"), std::string::npos);
  // Without `comment: true` in its policy a contact may not comment, nor decide without `approve`.
  expect_problem(as(ada, "POST", "/api/v1/databases/deliverables/records/" + d1 + "/comments", R"({"body":"hi"})"), 403);
  const std::string approval(json_of(ok(post("/api/v1/databases/deliverables/records/" + d1 + "/approvals",
                                             R"({"title":"Logo sign-off","detail":"Final colours"})"), 201))
                                 .string_or("id", ""));
  expect_problem(as(ada, "POST", "/api/v1/approvals/" + approval + "/decision", R"({"decision":"approved"})"), 403);

  // With both, for a while: the contact comments and decides, once; a foreign contact cannot.
  const std::string base_policy = R"({"read":{"columns":["title","status"]},"write":{"columns":["status"]})";
  auto with_flags = ok(http_request(stack->origin, "PUT", "/api/v1/policies/type:retainer/stakeholder/deliverables",
                                    base_policy + R"(,"comment":true,"approve":true})", auth({{"Content-Type", "application/json"}})),
                       200);
  auto as_now = [&](const std::string& who, const std::string& method, const std::string& target, const std::string& body,
                    const std::string& after) {
    std::map<std::string, std::string> h{{"Authorization", "Bearer " + who}, {"Content-Type", "application/json"}};
    if (!after.empty()) h["Apexloop-After"] = after;
    return http_request(stack->origin, method, target, body, h);
  };
  ok(as_now(ada, "POST", "/api/v1/databases/deliverables/records/" + d1 + "/comments", R"({"body":"Thanks!"})",
            with_flags.header("apexloop-position")), 201);
  expect_problem(as_now(bob, "POST", "/api/v1/approvals/" + approval + "/decision", R"({"decision":"approved"})", ""), 404);
  expect_problem(as_now(ada, "POST", "/api/v1/approvals/" + approval + "/decision", R"({"decision":"maybe"})", ""), 422);
  const auto decided = ok(as_now(ada, "POST", "/api/v1/approvals/" + approval + "/decision",
                                 R"({"decision":"changes_requested","comment":"Darker blue"})", ""), 200);
  expect_problem(as_now(ada, "POST", "/api/v1/approvals/" + approval + "/decision", R"({"decision":"approved"})", ""), 409);
  const auto approvals = ok(as_now(ada, "GET", "/api/v1/databases/deliverables/records/" + d1 + "/approvals", "",
                                   decided.header("apexloop-position")), 200);
  const Json approvals_json = json_of(approvals);
  ASSERT_EQ(approvals_json.find("items")->as_array().size(), 1u) << approvals.body;
  const Json& a = approvals_json.find("items")->as_array()[0];
  EXPECT_EQ(a.string_or("status", ""), "changes_requested");
  EXPECT_EQ(a.string_or("comment", ""), "Darker blue");
  EXPECT_EQ(a.find("decided_by")->string_or("id", ""), ada_invite.string_or("id", "-"));
  expect_problem(as_now(bob, "GET", "/api/v1/databases/deliverables/records/" + d1 + "/approvals", "",
                        decided.header("apexloop-position")), 404);
  auto restored = ok(http_request(stack->origin, "PUT", "/api/v1/policies/type:retainer/stakeholder/deliverables", base_policy + "}",
                                  auth({{"Content-Type", "application/json"}})),
                     200);

  // Notifications: the contact's feed names what it could see change, newest first; an edit of an
  // internal column adds nothing to it, not even a time.
  const auto feed = ok(as_now(ada, "GET", "/api/v1/notifications", "", restored.header("apexloop-position")), 200);
  const Json feed_json = json_of(feed);
  ASSERT_FALSE(feed_json.find("items")->as_array().empty()) << feed.body;
  EXPECT_EQ(feed_json.find("items")->as_array()[0].string_or("kind", ""), "approval_decided") << feed.body;
  EXPECT_EQ(feed.body.find("CANARY-NOTE"), std::string::npos);
  EXPECT_EQ(feed.body.find("CANARY-G"), std::string::npos);
  auto internal_edit = ok(http_request(stack->origin, "PATCH", "/api/v1/databases/deliverables/records/" + d3,
                                       R"({"fields":{"margin":123}})", auth({{"Content-Type", "application/json"}, {"If-Match", "1"}})),
                          200);
  const auto feed_after = ok(as_now(ada, "GET", "/api/v1/notifications", "", internal_edit.header("apexloop-position")), 200);
  EXPECT_EQ(feed_after.body, feed.body) << "an internal-only edit notified a contact";
  const auto bob_feed = ok(as_now(bob, "GET", "/api/v1/notifications", "", internal_edit.header("apexloop-position")), 200);
  EXPECT_EQ(bob_feed.body.find("CANARY-A"), std::string::npos);
  EXPECT_EQ(bob_feed.body.find(d1), std::string::npos) << "another client's record in a feed";

  // Writes: only the writable column, only on a visible record, never creating here.
  ok(as(ada, "PATCH", "/api/v1/databases/deliverables/records/" + d1, R"({"fields":{"status":"approved"}})", {{"If-Match", "1"}}), 200);
  expect_problem(as(ada, "PATCH", "/api/v1/databases/deliverables/records/" + d1, R"({"fields":{"title":"x"}})", {{"If-Match", "2"}}), 403);
  expect_problem(as(ada, "PATCH", "/api/v1/databases/deliverables/records/" + d1, R"({"fields":{"margin":1}})", {{"If-Match", "2"}}), 403);
  expect_problem(as(ada, "PATCH", "/api/v1/databases/deliverables/records/" + d2, R"({"fields":{"status":"approved"}})", {{"If-Match", "1"}}), 404);
  expect_problem(as(ada, "POST", "/api/v1/databases/deliverables/records", R"({"fields":{"status":"draft"}})"), 403);
  expect_problem(as(ada, "POST", "/api/v1/databases", R"({"key":"x","name":"X"})"), 403);
  expect_problem(as(ada, "PUT", "/api/v1/policies/type:retainer/stakeholder/deliverables", R"({"read":{"columns":["title"]}})"), 403);

  // A client's own policy replaces its type's, and takes effect on the next read.
  auto changed = ok(http_request(stack->origin, "PUT", "/api/v1/policies/client:" + acme + "/stakeholder/deliverables",
                                 R"({"read":{"columns":["title"]}})", auth({{"Content-Type", "application/json"}})),
                    200);
  auto after_change = http_request(stack->origin, "GET", "/api/v1/databases/deliverables/records/" + d1, "",
                                   {{"Authorization", "Bearer " + ada}, {"Apexloop-After", changed.header("apexloop-position")}});
  EXPECT_EQ(after_change.status, 200);
  EXPECT_EQ(to_json(*json_of(after_change).find("fields")), R"({"owner":")" + acme + R"(","title":"Logo CANARY-A"})");

  // Deactivation ends the contact's session on both services.
  auto contact_id = std::string(ada_invite.string_or("id", ""));
  auto gone = ok(http_request(stack->origin, "DELETE", "/api/v1/contacts/" + contact_id, "", auth()), 204);
  auto read_after = http_request(stack->origin, "GET", "/api/v1/databases/deliverables/records", "",
                                 {{"Authorization", "Bearer " + ada}, {"Apexloop-After", gone.header("apexloop-position")}});
  expect_problem(read_after, 401);
  expect_problem(as(ada, "PATCH", "/api/v1/databases/deliverables/records/" + d1, R"({"fields":{"status":"review"}})", {{"If-Match", "2"}}), 401);

  // Neither invitation tokens nor contact passwords nor session tokens enter the log.
  for (const auto& m : stack->read_log()) {
    for (const std::string& secret : {std::string(ada_invite.string_or("invitation_token", "-")),
                                     std::string(bob_invite.string_or("invitation_token", "-")),
                                     std::string("a long contact password"), ada, bob}) {
      EXPECT_EQ(m.value.find(secret), std::string::npos);
    }
  }
}

// Issue 5: an edit to an internal column notifies nobody and leaks nothing, not even a
// timestamp. A contact is shown, and edits against, the version of the last change it can read.
TEST_F(EndToEnd, AnInternalOnlyEditLeavesAContactsReadsByteIdenticalAndItsVersionValid) {
  auto ok = [](const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    return r;
  };
  auto put = [&](const std::string& target, const std::string& body) {
    return http_request(stack->origin, "PUT", target, body, auth({{"Content-Type", "application/json"}}));
  };
  ok(post("/api/v1/client-types", R"({"key":"vv_type","name":"VV"})"), 201);
  ok(post("/api/v1/portal-roles", R"({"key":"vv_role","name":"VV"})"), 201);
  const std::string initech(
      json_of(ok(post("/api/v1/clients", R"({"name":"Initech","client_type":"vv_type"})"), 201)).string_or("id", ""));
  ok(post("/api/v1/databases", R"({"key":"orders","name":"Orders"})"), 201);
  for (const char* col : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                          R"({"key":"status","name":"Status","type":"select","options":{"choices":["new","shipped"]}})",
                          R"({"key":"cost","name":"Cost","type":"number","internal":true})"}) {
    ok(post("/api/v1/databases/orders/columns", col), 201);
  }
  ok(put("/api/v1/policies/type:vv_type/vv_role/orders",
         R"({"read":{"columns":["title","status"]},"write":{"columns":["status"]}})"),
     200);
  const Json invite = json_of(ok(post("/api/v1/clients/" + initech + "/contacts",
                                      R"({"email":"peter@initech.test","name":"Peter","role":"vv_role"})"),
                                 201));
  const auto accepted = ok(http_request(stack->origin, "POST",
                                        "/api/v1/invitations/" + std::string(invite.string_or("invitation_token", "")) + "/accept",
                                        R"({"password":"a long contact password"})", {{"Content-Type", "application/json"}}),
                           201);
  const std::string peter(json_of(accepted).string_or("token", ""));
  secrets.insert(secrets.end(), {std::string(invite.string_or("invitation_token", "-")), peter});
  auto created = ok(post("/api/v1/databases/orders/records",
                         R"({"fields":{"owner":")" + initech + R"(","title":"Staplers","status":"new","cost":5}})"),
                    201);
  const std::string path = "/api/v1/databases/orders/records/" + std::string(json_of(created).string_or("id", ""));
  auto as_peter = [&](const std::string& method, const std::string& target, const std::string& after,
                      std::map<std::string, std::string> h = {}, const std::string& body = "") {
    h["Authorization"] = "Bearer " + peter;
    if (!after.empty()) h["Apexloop-After"] = after;
    if (!body.empty()) h["Content-Type"] = "application/json";
    return http_request(stack->origin, method, target, body, h);
  };
  const auto record_before = ok(as_peter("GET", path, created.header("apexloop-position")), 200);
  const auto list_before = ok(as_peter("GET", "/api/v1/databases/orders/records", ""), 200);
  const auto feed_before = ok(as_peter("GET", "/api/v1/notifications", ""), 200);
  EXPECT_EQ(record_before.header("etag"), "\"1\"");

  // The admin edits the internal column, twice: version 3 for internal users ...
  auto internal1 = ok(patch(path, R"({"fields":{"cost":6}})", "1"), 200);
  EXPECT_EQ(json_of(internal1).find("version")->as_int(), 2);
  auto internal2 = ok(patch(path, R"({"fields":{"cost":7}})", "2"), 200);
  const auto internal_read = ok(get(path, internal2.header("apexloop-position")), 200);
  EXPECT_EQ(json_of(internal_read).find("version")->as_int(), 3);
  EXPECT_EQ(internal_read.header("etag"), "\"3\"");
  // ... and nothing the contact reads moved, not a byte: no version, no updated_at, no notice.
  const auto record_after = ok(as_peter("GET", path, internal2.header("apexloop-position")), 200);
  EXPECT_EQ(record_after.body, record_before.body);
  EXPECT_EQ(record_after.header("etag"), "\"1\"");
  EXPECT_EQ(ok(as_peter("GET", "/api/v1/databases/orders/records", ""), 200).body, list_before.body);
  EXPECT_EQ(ok(as_peter("GET", "/api/v1/notifications", ""), 200).body, feed_before.body);

  // The contact edits with the version it was shown, and is answered with the one it now sees.
  const auto real_version_probe = as_peter("PATCH", path, "", {{"If-Match", "3"}}, R"({"fields":{"status":"shipped"}})");
  expect_problem(real_version_probe, 409);
  const auto edited = ok(as_peter("PATCH", path, "", {{"If-Match", "\"1\""}}, R"({"fields":{"status":"shipped"}})"), 200);
  EXPECT_EQ(json_of(edited).find("version")->as_int(), 4);
  EXPECT_EQ(edited.header("etag"), "\"4\"");
  const auto mine = json_of(ok(as_peter("GET", path, edited.header("apexloop-position")), 200));
  EXPECT_EQ(mine.find("version")->as_int(), 4);
  const Json internal_now = json_of(ok(get(path, edited.header("apexloop-position")), 200));
  EXPECT_EQ(mine.string_or("updated_at", ""), internal_now.string_or("updated_at", "-"))
      << "its own edit is a change it sees: that event's time";

  // Another internal-only edit: a PATCH that changes nothing answers the contact's version.
  auto internal3 = ok(patch(path, R"({"fields":{"cost":8}})", "4"), 200);
  const auto unchanged = ok(as_peter("PATCH", path, internal3.header("apexloop-position"), {{"If-Match", "4"}},
                                     R"({"fields":{"status":"shipped"}})"),
                            200);
  EXPECT_EQ(json_of(unchanged).find("version")->as_int(), 4) << unchanged.body;
  EXPECT_EQ(unchanged.header("etag"), "\"4\"");
  // A change it can see makes its version stale: 409, as for anyone.
  auto visible = ok(patch(path, R"({"fields":{"title":"Red staplers"}})", "5"), 200);
  expect_problem(
      as_peter("PATCH", path, visible.header("apexloop-position"), {{"If-Match", "4"}}, R"({"fields":{"status":"new"}})"),
      409);
  const auto now_seen = ok(as_peter("GET", path, visible.header("apexloop-position")), 200);
  EXPECT_EQ(json_of(now_seen).find("version")->as_int(), 6);
  EXPECT_EQ(now_seen.header("etag"), "\"6\"");
  EXPECT_EQ(now_seen.body.find("cost"), std::string::npos);
  ok(as_peter("PATCH", path, "", {{"If-Match", "6"}}, R"({"fields":{"status":"new"}})"), 200);
}

TEST_F(EndToEnd, RepeatedFailedSignInsAreThrottledPerAccount) {
  auto sign_in = [&](const std::string& email, const std::string& password) {
    return http_request(stack->origin, "POST", "/api/v1/sessions",
                        R"({"workspace":")" + workspace + R"(","email":")" + email + R"(","password":")" + password + R"("})",
                        {{"Content-Type", "application/json"}});
  };
  // An account that does not exist is counted like one that does: the answers cannot tell them apart.
  for (int i = 0; i < 10; ++i) expect_problem(sign_in("nobody@acme.test", "wrong password " + std::to_string(i)), 401);
  const auto throttled = sign_in("nobody@acme.test", "wrong password again");
  expect_problem(throttled, 429);
  EXPECT_FALSE(throttled.header("retry-after").empty());
  EXPECT_EQ(sign_in("ada@acme.test", kAdminPassword).status, 201) << "other accounts are unaffected";
}

TEST_F(EndToEnd, LogoutEndsThatSessionOnEveryServiceAndNoOther) {
  auto session = http_request(stack->origin, "POST", "/api/v1/sessions",
                              R"({"workspace":")" + workspace + R"(","email":"ada@acme.test","password":")" + kAdminPassword + R"("})",
                              {{"Content-Type", "application/json"}});
  ASSERT_EQ(session.status, 201) << session.body;
  const std::string second(json_of(session).string_or("token", ""));
  secrets.push_back(second);
  const auto bye = http_request(stack->origin, "DELETE", "/api/v1/sessions/current", "", {{"Authorization", "Bearer " + second}});
  ASSERT_EQ(bye.status, 204) << bye.body;
  expect_problem(http_request(stack->origin, "GET", "/api/v1/databases", "",
                              {{"Authorization", "Bearer " + second}, {"Apexloop-After", bye.header("apexloop-position")}}),
                 401);
  expect_problem(http_request(stack->origin, "POST", "/api/v1/databases", R"({"key":"after_logout","name":"X"})",
                              {{"Authorization", "Bearer " + second}, {"Content-Type", "application/json"}}),
                 401);
  expect_problem(http_request(stack->origin, "DELETE", "/api/v1/sessions/current", "", {{"Authorization", "Bearer " + second}}), 401);
  EXPECT_EQ(get("/api/v1/databases", bye.header("apexloop-position")).status, 200) << "the suite's own session still works";
}

TEST_F(EndToEnd, EveryServiceExposesHealthReadinessAndMetrics) {
  for (auto port : {stack->command_port, stack->query_port, stack->projector_port}) {
    EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200);
    EXPECT_EQ(http_request(port, "GET", "/readyz").status, 200);
    auto m = http_request(port, "GET", "/metrics");
    EXPECT_EQ(m.status, 200);
    EXPECT_NE(m.body.find("apexloop_http_requests_total"), std::string::npos);
  }
  EXPECT_NE(http_request(stack->projector_port, "GET", "/metrics").body.find("apexloop_kafka_consumer_lag"),
            std::string::npos);
}

TEST_F(EndToEnd, TheLogCarriesNoSecrets) {
  const auto log = stack->read_log();
  ASSERT_FALSE(log.empty());
  for (const auto& m : log) {
    EXPECT_EQ(m.value.find(kAdminPassword), std::string::npos);
    EXPECT_EQ(m.value.find("$argon2id$"), std::string::npos);
    EXPECT_EQ(m.value.find(token), std::string::npos);
    EXPECT_EQ(m.key, workspace) << "key = workspace id";
    EXPECT_FALSE(m.type.empty()) << "type travels as a header";
  }
  std::vector<std::string> all = secrets;
  all.insert(all.end(), {kAdminPassword, token});
  expect_no_secrets(*stack, all);
}

// Last on purpose: the replay below then covers every kind of event the other tests wrote,
// access events included (the projector reloads its access model from the read models).
TEST_F(EndToEnd, ProjectorKilledAndRestartedResumesWithNothingAppliedTwice) {
  auto first = post("/api/v1/databases/tickets/records", R"({"fields":{"title":"before the crash"}})");
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(get("/api/v1/databases/tickets/records/" + std::string(json_of(first).string_or("id", "")),
                first.header("apexloop-position")).status, 200);
  stack->projector.signal(SIGKILL);
  stack->projector.wait();
  // Writes go on while the projector is down; the log holds them.
  std::vector<std::string> ids;
  std::string last;
  for (int i = 0; i < 5; ++i) {
    auto r = post("/api/v1/databases/tickets/records", R"({"fields":{"title":"during the outage )" + std::to_string(i) + R"("}})");
    ASSERT_EQ(r.status, 201) << r.body;
    ids.emplace_back(json_of(r).string_or("id", ""));
    last = r.header("apexloop-position");
  }
  const std::string edited = ids[0];
  auto edit = patch("/api/v1/databases/tickets/records/" + edited, R"({"fields":{"status":"done"}})", "1");
  ASSERT_EQ(edit.status, 200);
  last = edit.header("apexloop-position");
  stack->start_projector();
  for (const auto& id : ids) {
    auto r = get("/api/v1/databases/tickets/records/" + id, last);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto r = get("/api/v1/databases/tickets/records/" + edited, last);
  EXPECT_NE(r.body.find(R"("version":2)"), std::string::npos) << "applied once: " << r.body;

  // A clean replay of the whole log into an empty directory must give byte-identical read models.
  const std::string replay_dir = stack->dir + "/replay";
  auto [replay, replay_port] = stack->spawn("replay", APEXLOOP_PROJECTOR_BIN, replay_dir);
  const auto target = stack->log_size();
  auto applied = [](std::uint16_t port) {
    std::int64_t n = 0;
    const std::string metrics = http_request(port, "GET", "/metrics").body;
    const std::regex line(R"(apexloop_projector_next_offset\{partition="\d+"\} (\d+))");
    for (std::sregex_iterator it(metrics.begin(), metrics.end(), line), end; it != end; ++it) n += std::stoll((*it)[1]);
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((applied(replay_port) < target || applied(stack->projector_port) < target) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(applied(replay_port), target);
  ASSERT_EQ(applied(stack->projector_port), target);
  replay.signal(SIGTERM);
  ASSERT_EQ(replay.wait(), 0);
  auto hash_of = [](const std::string& data_dir) {
    const std::string out = data_dir + "/hash.txt";
    Process h("hash", {APEXLOOP_PROJECTOR_BIN, "hash", data_dir}, {}, out);
    EXPECT_EQ(h.wait(), 0);
    return read_file(out);
  };
  const std::string live = hash_of(stack->dir + "/data");
  const std::string clean = hash_of(replay_dir);
  EXPECT_EQ(live.size(), 65u) << live;
  EXPECT_EQ(live, clean) << "the live read models differ from a clean replay";
}

}  // namespace
}  // namespace apexloop::testing
