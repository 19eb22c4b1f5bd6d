// Internal users, invitations, sessions and their security events, the request rate limit, and
// the authorization matrix of every route, through a real Kafka broker, the three real service
// binaries and nginx as the one origin.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "apexloop/core/clock.hpp"
#include "apexloop/core/json.hpp"
#include "apexloop/runtime/auth.hpp"
#include "harness.hpp"
#include "stack.hpp"

namespace apexloop::testing {
namespace {

using namespace std::chrono_literals;
using Headers = std::map<std::string, std::string>;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Access : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack();
    stack->start();
    workspace = bootstrap("Access Co", "root@access.test").first;
    admin = sign_in(workspace, "root@access.test", kAdminPassword).token;
    ASSERT_FALSE(admin.empty());
  }

  static void TearDownTestSuite() {
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

  static HttpResult call(const std::string& method, const std::string& target, const std::string& token,
                         const std::string& body = "", Headers h = {}) {
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    if (!body.empty()) h["Content-Type"] = "application/json";
    return http_request(stack->origin, method, target, body, h);
  }

  // A fresh workspace with its admin (password kAdminPassword): (workspace id, admin id).
  static std::pair<std::string, std::string> bootstrap(const std::string& name, const std::string& email) {
    auto r = http_request(stack->origin, "POST", "/api/v1/workspaces",
                          R"({"name":")" + name + R"(","admin":{"email":")" + email + R"(","name":"Boss","password":")" +
                              kAdminPassword + R"("}})",
                          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
    if (r.status != 201) throw std::runtime_error("bootstrap: " + r.body);
    const Json j = json_of(r);
    return {std::string(j.string_or("workspace_id", "")), std::string(j.string_or("user_id", ""))};
  }

  struct Session {
    HttpResult answer;
    std::string token;
  };
  static Session sign_in(const std::string& ws, const std::string& email, const std::string& password) {
    auto r = http_request(stack->origin, "POST", "/api/v1/sessions",
                          R"({"workspace":")" + ws + R"(","email":")" + email + R"(","password":")" + password + R"("})",
                          {{"Content-Type", "application/json"}});
    std::string token = r.status == 201 ? std::string(json_of(r).string_or("token", "")) : "";
    if (!token.empty()) secrets.push_back(token);
    return {r, token};
  }

  static HttpResult accept(const std::string& invitation, const std::string& password) {
    secrets.push_back(password);
    auto r = http_request(stack->origin, "POST", "/api/v1/invitations/" + invitation + "/accept",
                          R"({"password":")" + password + R"("})", {{"Content-Type", "application/json"}});
    if (r.status == 201) secrets.emplace_back(json_of(r).string_or("token", ""));
    return r;
  }

  // Invites through `by`; answers the invitation ({id, invitation_token, invitation_expires_at}).
  static Json invite_user(const std::string& by, const std::string& email, const std::string& role) {
    auto r = call("POST", "/api/v1/users", by, R"({"email":")" + email + R"(","name":"Someone","role":")" + role + R"("})");
    if (r.status != 201) throw std::runtime_error("invite " + email + ": " + std::to_string(r.status) + " " + r.body);
    Json j = json_of(r);
    secrets.emplace_back(j.string_or("invitation_token", ""));
    return j;
  }

  // A user of the suite's workspace who has joined: (id, session token).
  static inline std::string joined_at;  // the log position of the last join_user
  static std::pair<std::string, std::string> join_user(const std::string& email, const std::string& role,
                                                       const std::string& password) {
    const Json inv = invite_user(admin, email, role);
    auto r = accept(std::string(inv.string_or("invitation_token", "")), password);
    if (r.status != 201) throw std::runtime_error("accept " + email + ": " + r.body);
    joined_at = r.header("apexloop-position");
    return {std::string(inv.string_or("id", "")), std::string(json_of(r).string_or("token", ""))};
  }

  static void expect_problem(const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
  }

  // The session id a token carries: the part that, unlike the token, may enter the log.
  static std::string session_id_of(const std::string& token) {
    const auto first = token.find('.');
    const auto last = token.rfind('.');
    auto claims = unbase64url(token.substr(first + 1, last - first - 1));
    if (!claims) return "";
    auto j = parse_json(*claims);
    return j ? std::string(j->string_or("sid", "")) : "";
  }

  static inline Stack* stack = nullptr;
  static inline std::string workspace;
  static inline std::string admin;
  // Every password and raw token the suite used, for the last test's scan of every log.
  static inline std::vector<std::string> secrets{kAdminPassword};
};

TEST_F(Access, InternalUsersJoinByInvitationAndActByTheirRole) {
  const auto before = stack->log_size();
  expect_problem(call("POST", "/api/v1/users", admin, R"({"email":"x@access.test","name":"X","role":"owner"})"), 422);
  expect_problem(call("POST", "/api/v1/users", admin, R"({"email":"x@access.test","name":"X","role":"member","id":"me"})"), 422);
  expect_problem(call("POST", "/api/v1/users", admin, R"({"email":"ROOT@access.test","name":"X","role":"member"})"), 409);
  expect_problem(call("POST", "/api/v1/users", admin, R"({"email":"x@access.test",)"), 400);
  EXPECT_EQ(stack->log_size(), before) << "refused invitations append nothing";

  const Json inv = invite_user(admin, "Mia@Access.test", "member");
  const auto expires = parse_timestamp(inv.string_or("invitation_expires_at", ""));
  ASSERT_TRUE(expires.has_value()) << to_json(inv);
  EXPECT_NEAR(static_cast<double>(expires->ms - now_ms()), 7 * 24 * 3600 * 1000.0, 60'000.0) << "7 days by default";
  const auto joined = accept(std::string(inv.string_or("invitation_token", "")), "mia's own long password");
  ASSERT_EQ(joined.status, 201) << joined.body;
  const Json principal = *json_of(joined).find("principal");
  EXPECT_EQ(to_json(principal), R"({"id":")" + std::string(inv.string_or("id", "")) + R"(","kind":"user","role":"member"})");
  const std::string mia(json_of(joined).string_or("token", ""));
  expect_problem(accept(std::string(inv.string_or("invitation_token", "")), "mia's own long password"), 404);
  const auto again = sign_in(workspace, "mia@access.test", "mia's own long password");
  ASSERT_EQ(again.answer.status, 201) << again.answer.body;

  // Members work on records, internal columns included, and touch no schema and no users.
  ASSERT_EQ(call("POST", "/api/v1/databases", admin, R"({"key":"notes","name":"Notes"})").status, 201);
  ASSERT_EQ(call("POST", "/api/v1/databases/notes/columns", admin, R"({"key":"title","name":"Title","type":"text"})").status, 201);
  ASSERT_EQ(call("POST", "/api/v1/databases/notes/columns", admin,
                 R"({"key":"cost","name":"Cost","type":"number","internal":true})").status, 201);
  expect_problem(call("POST", "/api/v1/databases", mia, R"({"key":"mine","name":"Mine"})"), 403);
  expect_problem(call("POST", "/api/v1/users", mia, R"({"email":"y@access.test","name":"Y","role":"admin"})"), 403);
  const auto created = call("POST", "/api/v1/databases/notes/records", mia, R"({"fields":{"title":"by Mia","cost":7}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string note = "/api/v1/databases/notes/records/" + std::string(json_of(created).string_or("id", ""));
  const auto read = call("GET", note, mia, "", {{"Apexloop-After", created.header("apexloop-position")}});
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(to_json(*json_of(read).find("fields")), R"({"cost":7,"title":"by Mia"})") << "members read the internal view";

  // Auditors read everything and write nothing.
  const auto [auditor_id, auditor] = join_user("audrey@access.test", "auditor", "audrey's long password");
  // Read once the query service has seen the auditor join (the join comes after the note).
  const auto seen = call("GET", note, auditor, "", {{"Apexloop-After", joined_at}});
  ASSERT_EQ(seen.status, 200) << seen.body;
  EXPECT_EQ(seen.body, read.body);
  EXPECT_EQ(call("GET", "/api/v1/clients", auditor).status, 200);
  const auto writes_before = stack->log_size();
  expect_problem(call("POST", "/api/v1/databases/notes/records", auditor, R"({"fields":{"title":"no"}})"), 403);
  expect_problem(call("PATCH", note, auditor, R"({"fields":{"title":"no"}})", {{"If-Match", "1"}}), 403);
  expect_problem(call("DELETE", note, auditor), 403);
  expect_problem(call("DELETE", "/api/v1/users/" + auditor_id, auditor), 403);
  EXPECT_EQ(stack->log_size(), writes_before);
}

TEST_F(Access, DeactivatingAUserEndsItsSessionsOnEveryServiceWithinASecond) {
  const auto [leo_id, leo] = join_user("leo@access.test", "member", "leo's long password");
  const std::string leo2 = sign_in(workspace, "leo@access.test", "leo's long password").token;
  ASSERT_FALSE(leo2.empty());
  const auto warm = call("GET", "/api/v1/databases", leo2);
  ASSERT_EQ(warm.status, 200) << warm.body;

  const auto gone = call("DELETE", "/api/v1/users/" + leo_id, admin);
  ASSERT_EQ(gone.status, 204) << gone.body;
  const auto t0 = std::chrono::steady_clock::now();
  expect_problem(call("POST", "/api/v1/databases/notes/records", leo, R"({"fields":{"title":"after"}})"), 401);
  // The query service learns it from the projector: no read-your-writes header here, only time.
  int status = 0;
  while (std::chrono::steady_clock::now() - t0 < 1s && (status = call("GET", "/api/v1/databases", leo2).status) != 401) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(status, 401) << "the query service still served a deactivated user after a second";
  expect_problem(call("GET", "/api/v1/databases", leo, "", {{"Apexloop-After", gone.header("apexloop-position")}}), 401);
  const auto refused = sign_in(workspace, "leo@access.test", "leo's long password");
  const auto wrong = sign_in(workspace, "leo@access.test", "not leo's password at all");
  expect_problem(refused.answer, 401);
  EXPECT_EQ(refused.answer.body, wrong.answer.body) << "a deactivated account answers like a wrong password";

  const auto before = stack->log_size();
  expect_problem(call("DELETE", "/api/v1/users/" + leo_id, admin), 404);
  expect_problem(call("DELETE", "/api/v1/users/0190a000-0000-7000-8000-000000000000", admin), 404);
  // A pending invitation is withdrawn the same way, and then answers like a forged one.
  const Json pending = invite_user(admin, "pat@access.test", "auditor");
  ASSERT_EQ(call("DELETE", "/api/v1/users/" + std::string(pending.string_or("id", "")), admin).status, 204);
  const auto withdrawn = accept(std::string(pending.string_or("invitation_token", "")), "pat's long password");
  const auto forged = accept(std::string(43, 'Q'), "pat's long password");
  expect_problem(withdrawn, 404);
  EXPECT_EQ(withdrawn.body, forged.body);
  EXPECT_EQ(stack->log_size(), before + 2) << "only the invitation and its withdrawal were appended";

  // The last active admin stays: a workspace without one could never be administered again.
  const auto [solo, solo_admin] = bootstrap("Solo", "solo@access.test");
  const std::string solo_token = sign_in(solo, "solo@access.test", kAdminPassword).token;
  expect_problem(call("DELETE", "/api/v1/users/" + solo_admin, solo_token), 409);
  EXPECT_EQ(call("GET", "/api/v1/databases", solo_token).status, 200);
}

TEST_F(Access, UsedExpiredAndForgedInvitationsAnswerTheSameBytes) {
  const Json used = invite_user(admin, "used@access.test", "member");
  ASSERT_EQ(accept(std::string(used.string_or("invitation_token", "")), "used's long password").status, 201);

  // Invitations that live one second, from a command service configured so.
  stack->restart_command({{"APEXLOOP_INVITATION_TTL_SECONDS", "1"}});
  const Json short_lived = invite_user(admin, "late@access.test", "member");
  const auto expires = parse_timestamp(short_lived.string_or("invitation_expires_at", ""));
  ASSERT_TRUE(expires.has_value());
  EXPECT_LE(expires->ms - now_ms(), 1000) << to_json(short_lived);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max<std::int64_t>(0, expires->ms - now_ms()) + 200));
  stack->restart_command({});  // the expiry is the event's; the setting no longer matters

  const auto before = stack->log_size();
  const auto expired = accept(std::string(short_lived.string_or("invitation_token", "")), "late's long password");
  const auto reused = accept(std::string(used.string_or("invitation_token", "")), "used's long password");
  const auto forged = accept(base64url(random_bytes(32)), "forger's long password");
  for (const auto* r : {&expired, &reused, &forged}) expect_problem(*r, 404);
  EXPECT_EQ(expired.body, forged.body);
  EXPECT_EQ(reused.body, forged.body);
  EXPECT_EQ(expired.header("content-length"), forged.header("content-length"));
  EXPECT_EQ(stack->log_size(), before) << "a refused invitation appends nothing";
}

TEST_F(Access, TheRequestRateLimitAnswers429PerClientAddress) {
  stack->restart_command({{"APEXLOOP_RATE_LIMIT_PER_SECOND", "1"}, {"APEXLOOP_RATE_LIMIT_BURST", "5"}});
  // Straight to the service from loopback, a trusted proxy: X-Forwarded-For names the client.
  auto from = [](const std::string& address, const std::string& method = "GET", const std::string& target = "/healthz",
                 const std::string& body = "") {
    Headers h{{"X-Forwarded-For", address}};
    if (!body.empty()) h["Content-Type"] = "application/json";
    return http_request(stack->command_port, method, target, body, h);
  };
  for (int i = 0; i < 5; ++i) ASSERT_EQ(from("203.0.113.7").status, 200) << "the burst passes: " << i;
  const auto before = stack->log_size();
  const auto limited = from("203.0.113.7", "POST", "/api/v1/sessions",
                            R"({"workspace":")" + workspace + R"(","email":"root@access.test","password":")" + kAdminPassword + R"("})");
  expect_problem(limited, 429);
  EXPECT_GE(std::stoi(limited.header("retry-after").empty() ? "0" : limited.header("retry-after")), 1);
  EXPECT_EQ(json_of(limited).find("status")->as_int(), 429);
  EXPECT_EQ(stack->log_size(), before) << "a limited sign-in never reached the handler";
  EXPECT_EQ(from("203.0.113.8").status, 200) << "another address has its own budget";
  stack->restart_command({});
}

TEST_F(Access, SignInsAndLockoutsAreSecurityEventsWithoutSecrets) {
  const auto before = stack->log_size();
  EXPECT_EQ(sign_in(workspace, "root@access.test", "not the password at all").answer.status, 401);
  EXPECT_EQ(stack->log_size(), before) << "a failed sign-in starts no session";
  for (int i = 0; i < 10; ++i) {
    expect_problem(sign_in(workspace, "Eve@access.test", "guess number " + std::to_string(i)).answer, 401);
  }
  expect_problem(sign_in(workspace, "eve@access.test", "one more guess").answer, 429);
  const std::string fresh = sign_in(workspace, "root@access.test", kAdminPassword).token;
  const std::string sid = session_id_of(fresh);
  ASSERT_FALSE(sid.empty());

  int throttled = 0, password_sessions = 0, invitation_sessions = 0;
  bool found_fresh = false;
  for (const auto& m : stack->read_log()) {
    if (m.key != workspace) continue;
    const Json e = *parse_json(m.value);
    const Json& d = *e.find("data");
    if (m.type == "signin.throttled") {
      ++throttled;
      EXPECT_EQ(to_json(d).find("guess"), std::string::npos);
      EXPECT_EQ(d.string_or("email", ""), "eve@access.test");
      EXPECT_EQ(d.find("failures")->as_int(), 10);
      EXPECT_EQ(e.find("actor")->string_or("kind", ""), "system");
    } else if (m.type == "session.started") {
      const std::string method(d.string_or("method", ""));
      (method == "password" ? password_sessions : invitation_sessions) += 1;
      EXPECT_TRUE(method == "password" || method == "invitation") << m.value;
      // Written as version 2 (events/upcast.hpp): the principal is one object.
      EXPECT_EQ(e.find("v")->as_int(), 2) << m.value;
      const Json* principal = d.find("principal");
      ASSERT_NE(principal, nullptr) << m.value;
      EXPECT_EQ(e.find("actor")->string_or("id", ""), principal->string_or("id", "-")) << "the principal signs itself in";
      if (d.string_or("session_id", "") == sid) {
        found_fresh = true;
        EXPECT_EQ(principal->string_or("kind", ""), "user");
        EXPECT_EQ(principal->string_or("role", ""), "admin");
      }
    }
  }
  EXPECT_EQ(throttled, 1) << "one lockout, one event";
  EXPECT_GE(password_sessions, 2);
  EXPECT_GE(invitation_sessions, 1);
  EXPECT_TRUE(found_fresh) << "the sign-in's session.started names its session id";
}

// ---- the authorization matrix ----

struct Cell {
  std::string endpoint;
  std::string principal;
  int status = 0;
};

std::vector<Cell> read_matrix() {
  std::ifstream in(APEXLOOP_AUTHZ_MATRIX);
  if (!in) throw std::runtime_error("cannot read " + std::string(APEXLOOP_AUTHZ_MATRIX));
  std::vector<Cell> out;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("#")) continue;
    if (header) {
      header = false;  // endpoint, principal, status
      continue;
    }
    std::istringstream fields(line);
    Cell c;
    std::string status;
    std::getline(fields, c.endpoint, '\t');
    std::getline(fields, c.principal, '\t');
    std::getline(fields, status, '\t');
    c.status = std::stoi(status);
    out.push_back(std::move(c));
  }
  return out;
}

// True when `target` is an instance of the route in `endpoint` ("METHOD /path/{param}#variant").
bool matches_route(const std::string& endpoint, const std::string& method, const std::string& target) {
  const auto space = endpoint.find(' ');
  std::string route = endpoint.substr(space + 1);
  route = route.substr(0, route.find('#'));
  if (endpoint.substr(0, space) != method) return false;
  auto split = [](const std::string& path) {
    std::vector<std::string> out;
    std::stringstream ss(path.substr(0, path.find('?')));
    for (std::string seg; std::getline(ss, seg, '/');) out.push_back(seg);
    return out;
  };
  const auto want = split(route), got = split(target);
  if (want.size() != got.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!(want[i].starts_with("{") || want[i] == got[i])) return false;
  }
  return true;
}

// Issue 5: a form submission is the submitter's client's record, whatever the body names.
TEST_F(Access, AFormSubmissionLandsOnTheSubmittersClientWhateverItSays) {
  const auto [w, w_admin] = bootstrap("Forms Co", "boss@forms.test");
  const std::string boss = sign_in(w, "boss@forms.test", kAdminPassword).token;
  std::string position;
  auto setup = [&](const std::string& method, const std::string& target, const std::string& body) {
    auto r = call(method, target, boss, body);
    if (r.status >= 300) throw std::runtime_error(method + " " + target + ": " + r.body);
    position = r.header("apexloop-position");
    return r.body.empty() ? Json() : json_of(r);
  };
  setup("POST", "/api/v1/client-types", R"({"key":"retainer","name":"Retainer"})");
  setup("POST", "/api/v1/client-types", R"({"key":"project","name":"Project"})");
  setup("POST", "/api/v1/portal-roles", R"({"key":"stakeholder","name":"Stakeholder"})");
  const std::string mine(setup("POST", "/api/v1/clients", R"({"name":"Mine","client_type":"retainer"})").string_or("id", ""));
  const std::string theirs(setup("POST", "/api/v1/clients", R"({"name":"Theirs","client_type":"project"})").string_or("id", ""));
  setup("POST", "/api/v1/databases", R"({"key":"requests","name":"Requests"})");
  setup("POST", "/api/v1/databases/requests/columns", R"({"key":"owner","name":"Client","type":"client"})");
  setup("POST", "/api/v1/databases/requests/columns", R"({"key":"title","name":"Title","type":"text"})");
  setup("PUT", "/api/v1/policies/type:retainer/stakeholder/requests", R"({"read":{"columns":["title"]},"write":{"columns":["title"],"create":true}})");
  setup("PUT", "/api/v1/policies/type:project/stakeholder/requests", R"({"read":{"columns":["title"]},"write":{"columns":["title"],"create":true}})");
  setup("POST", "/api/v1/forms", R"({"key":"intake","title":"New request","database":"requests",)"
                                  R"("fields":[{"column":"title","label":"What do you need?","required":true}],"client_types":["retainer"]})");
  const Json inv = setup("POST", "/api/v1/clients/" + mine + "/contacts", R"({"email":"c@mine.test","name":"C","role":"stakeholder"})");
  secrets.emplace_back(inv.string_or("invitation_token", ""));
  const auto joined = accept(std::string(inv.string_or("invitation_token", "")), "the contact's long password");
  ASSERT_EQ(joined.status, 201) << joined.body;
  const std::string contact(json_of(joined).string_or("token", ""));

  const auto forms = call("GET", "/api/v1/forms", contact, "", {{"Apexloop-After", joined.header("apexloop-position")}});
  ASSERT_EQ(forms.status, 200) << forms.body;
  EXPECT_EQ(json_of(forms).find("items")->as_array().size(), 1u) << forms.body;
  const auto writes_before = stack->log_size();
  expect_problem(call("POST", "/api/v1/forms/intake/submissions", contact, R"({"fields":{}})"), 422);  // required missing
  expect_problem(call("POST", "/api/v1/forms/intake/submissions", contact, R"({"fields":{"title":"x","extra":1}})"), 422);
  expect_problem(call("POST", "/api/v1/forms/nope/submissions", contact, R"({"fields":{"title":"x"}})"), 404);
  expect_problem(call("POST", "/api/v1/forms/intake/submissions", boss, R"({"fields":{"title":"x"}})"), 403);
  EXPECT_EQ(stack->log_size(), writes_before) << "a refused submission appended something";

  const auto submitted = call("POST", "/api/v1/forms/intake/submissions", contact,
                              R"({"fields":{"title":"New landing page","owner":")" + theirs + R"("}})");
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string id(json_of(submitted).string_or("record_id", ""));
  const auto record = call("GET", "/api/v1/databases/requests/records/" + id, boss, "",
                           {{"Apexloop-After", submitted.header("apexloop-position")}});
  ASSERT_EQ(record.status, 200) << record.body;
  EXPECT_EQ(json_of(record).find("fields")->string_or("owner", ""), mine) << record.body;
}

TEST_F(Access, AuthorizationMatrix) {
  const auto cells = read_matrix();
  ASSERT_GT(cells.size(), 100u);

  // The world: workspace W with an owning client and another one, each with a contact; a
  // database contacts may read (policy by client type) and one they may not; and workspace F.
  const auto [w, w_admin] = bootstrap("Matrix Co", "boss@matrix.test");
  const auto [f, f_admin] = bootstrap("Foreign Co", "boss@foreign.test");
  const std::string boss = sign_in(w, "boss@matrix.test", kAdminPassword).token;
  std::string last_position;
  auto setup = [&](const std::string& method, const std::string& target, const std::string& body, int status = 0) {
    auto r = call(method, target, boss, body, {{"X-Filename", "setup.txt"}});
    const int want = status != 0 ? status : method == "POST" ? 201 : 200;
    if (r.status != want) throw std::runtime_error("setup " + method + " " + target + ": " + std::to_string(r.status) + " " + r.body);
    if (!r.header("apexloop-position").empty()) last_position = r.header("apexloop-position");
    return r.body.empty() ? Json() : json_of(r);
  };
  const std::string kPolicy = R"({"read":{"columns":["title","status","docs"]},"write":{"columns":["status","docs"],"create":true}})";
  setup("POST", "/api/v1/client-types", R"({"key":"retainer","name":"Retainer"})");
  setup("POST", "/api/v1/portal-roles", R"({"key":"stakeholder","name":"Stakeholder"})");
  const std::string own(setup("POST", "/api/v1/clients", R"({"name":"Own","client_type":"retainer"})").string_or("id", ""));
  const std::string other(setup("POST", "/api/v1/clients", R"({"name":"Other","client_type":"retainer"})").string_or("id", ""));
  setup("POST", "/api/v1/databases", R"({"key":"matrix","name":"Matrix"})");
  for (const char* col : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                          R"({"key":"status","name":"Status","type":"select","options":{"choices":["open","done"]}})",
                          R"({"key":"cost","name":"Cost","type":"number","internal":true})",
                          R"({"key":"docs","name":"Documents","type":"file"})"}) {
    setup("POST", "/api/v1/databases/matrix/columns", col);
  }
  setup("POST", "/api/v1/databases", R"({"key":"hidden","name":"Hidden"})");
  setup("POST", "/api/v1/databases/hidden/columns", R"({"key":"title","name":"Title","type":"text"})");
  setup("PUT", "/api/v1/policies/type:retainer/stakeholder/matrix", kPolicy);
  auto own_record = [&] {
    return std::string(setup("POST", "/api/v1/databases/matrix/records",
                             R"({"fields":{"owner":")" + own + R"(","title":"owned","status":"open","cost":5}})")
                           .string_or("id", ""));
  };
  const std::string record = own_record();
  setup("POST", "/api/v1/forms", R"({"key":"intake","title":"Intake","database":"matrix","fields":[{"column":"status","label":"Status","required":true}],"client_types":["retainer"]})", 201);
  const std::string hidden(setup("POST", "/api/v1/databases/hidden/records", R"({"fields":{"title":"internal"}})").string_or("id", ""));
  const Headers kFileHeaders{{"X-Filename", "matrix.txt"}};
  const std::string file(setup("POST", "/api/v1/databases/matrix/records/" + record + "/files?column=docs", "file bytes")
                             .string_or("file_id", ""));
  // The admin's own client-visible comment and internal note on the record, each with a file.
  const std::string comment(setup("POST", "/api/v1/databases/matrix/records/" + record + "/comments",
                                  R"({"body":"see attached","visibility":"client"})").string_or("id", ""));
  const std::string note(setup("POST", "/api/v1/databases/matrix/records/" + record + "/comments",
                               R"({"body":"internal","visibility":"internal"})").string_or("id", ""));
  const std::string comment_file(setup("POST", "/api/v1/databases/matrix/records/" + record + "/files?comment=" + comment,
                                       "comment file bytes").string_or("file_id", ""));
  const std::string note_file(setup("POST", "/api/v1/databases/matrix/records/" + record + "/files?comment=" + note,
                                    "note file bytes").string_or("file_id", ""));

  struct Who {
    std::string workspace, email, password, token;
  };
  std::map<std::string, Who> who;
  who["none"] = {};
  who["garbage"] = {"", "", "", "ax1.eyJ3cyI6ImZvcmdlZCJ9.bm90LWEtbWFjLWF0LWFsbA"};
  who["admin"] = {w, "boss@matrix.test", kAdminPassword, boss};
  auto joined = [&](const std::string& path, const std::string& email, const std::string& extra) {
    const Json inv = setup("POST", path, R"({"email":")" + email + R"(","name":"Someone")" + extra + "}");
    secrets.emplace_back(inv.string_or("invitation_token", ""));
    const std::string password = "the password of " + email;
    auto r = accept(std::string(inv.string_or("invitation_token", "")), password);
    if (r.status != 201) throw std::runtime_error("accept: " + r.body);
    last_position = r.header("apexloop-position");
    return Who{w, email, password, std::string(json_of(r).string_or("token", ""))};
  };
  who["member"] = joined("/api/v1/users", "member@matrix.test", R"(,"role":"member")");
  who["auditor"] = joined("/api/v1/users", "auditor@matrix.test", R"(,"role":"auditor")");
  who["contact_own"] = joined("/api/v1/clients/" + own + "/contacts", "c@own.test", R"(,"role":"stakeholder")");
  who["contact_other"] = joined("/api/v1/clients/" + other + "/contacts", "c@other.test", R"(,"role":"stakeholder")");
  who["foreign_admin"] = {f, "boss@foreign.test", kAdminPassword, sign_in(f, "boss@foreign.test", kAdminPassword).token};

  // What each endpoint is sent; fresh objects where a success would use one up.
  struct Request {
    std::string method, target, body;
    Headers headers;
    std::optional<std::string> token;  // instead of the principal's standing token
  };
  int n = 0;
  auto request_for = [&](const std::string& endpoint, const Who& p) -> Request {
    const std::string u = "x" + std::to_string(++n);
    const Headers after{{"Apexloop-After", last_position}};
    if (endpoint == "POST /api/v1/workspaces") {
      return {"POST", "/api/v1/workspaces", R"({"name":"W )" + u + R"(","admin":{"email":")" + u + R"(@w.test","name":"A","password":"a long password 123"}})"};
    }
    if (endpoint == "POST /api/v1/sessions") {
      return {"POST", "/api/v1/sessions", R"({"workspace":")" + w + R"(","email":"member@matrix.test","password":")" + who["member"].password + R"("})"};
    }
    if (endpoint == "DELETE /api/v1/sessions/current") {
      // A session of its own to end, so the standing one lives on for the other rows.
      Request r{"DELETE", "/api/v1/sessions/current", ""};
      r.token = p.email.empty() ? p.token : sign_in(p.workspace, p.email, p.password).token;
      return r;
    }
    if (endpoint == "POST /api/v1/databases") return {"POST", "/api/v1/databases", R"({"key":"db_)" + u + R"(","name":"D"})"};
    if (endpoint == "POST /api/v1/databases/{db}/columns") {
      return {"POST", "/api/v1/databases/matrix/columns", R"({"key":"c_)" + u + R"(","name":"C","type":"text"})"};
    }
    if (endpoint == "POST /api/v1/databases/{db}/records") return {"POST", "/api/v1/databases/matrix/records", R"({"fields":{"status":"open"}})"};
    if (endpoint == "PATCH /api/v1/databases/{db}/records/{id}") {
      return {"PATCH", "/api/v1/databases/matrix/records/" + own_record(), R"({"fields":{"status":"done"}})", {{"If-Match", "1"}}};
    }
    if (endpoint == "DELETE /api/v1/databases/{db}/records/{id}") {
      return {"DELETE", "/api/v1/databases/matrix/records/" + own_record(), "", {{"If-Match", "1"}}};
    }
    if (endpoint == "POST /api/v1/client-types") return {"POST", "/api/v1/client-types", R"({"key":"t_)" + u + R"(","name":"T"})"};
    if (endpoint == "POST /api/v1/portal-roles") return {"POST", "/api/v1/portal-roles", R"({"key":"r_)" + u + R"(","name":"R"})"};
    if (endpoint == "POST /api/v1/clients") return {"POST", "/api/v1/clients", R"({"name":"C )" + u + R"(","client_type":"retainer"})"};
    if (endpoint == "PATCH /api/v1/clients/{id}") return {"PATCH", "/api/v1/clients/" + own, R"({"name":"Own )" + u + R"("})"};
    if (endpoint == "DELETE /api/v1/clients/{id}") {
      return {"DELETE", "/api/v1/clients/" + std::string(setup("POST", "/api/v1/clients", R"({"name":"Doomed","client_type":"retainer"})").string_or("id", ""))};
    }
    if (endpoint == "POST /api/v1/clients/{id}/contacts") {
      return {"POST", "/api/v1/clients/" + own + "/contacts", R"({"email":")" + u + R"(@own.test","name":"C","role":"stakeholder"})"};
    }
    if (endpoint == "DELETE /api/v1/contacts/{id}") {
      const Json inv = setup("POST", "/api/v1/clients/" + own + "/contacts", R"({"email":"d)" + u + R"(@own.test","name":"D","role":"stakeholder"})");
      secrets.emplace_back(inv.string_or("invitation_token", ""));
      return {"DELETE", "/api/v1/contacts/" + std::string(inv.string_or("id", ""))};
    }
    if (endpoint == "POST /api/v1/invitations/{token}/accept") {
      const Json inv = setup("POST", "/api/v1/clients/" + own + "/contacts", R"({"email":"a)" + u + R"(@own.test","name":"A","role":"stakeholder"})");
      const std::string token(inv.string_or("invitation_token", ""));
      secrets.insert(secrets.end(), {token, "accepted password " + u});
      return {"POST", "/api/v1/invitations/" + token + "/accept", R"({"password":"accepted password )" + u + R"("})"};
    }
    if (endpoint == "PUT /api/v1/policies/{scope}/{role}/{db}") return {"PUT", "/api/v1/policies/client:" + own + "/stakeholder/matrix", kPolicy};
    if (endpoint == "DELETE /api/v1/policies/{scope}/{role}/{db}") {
      setup("PUT", "/api/v1/policies/client:" + other + "/stakeholder/matrix", kPolicy);
      return {"DELETE", "/api/v1/policies/client:" + other + "/stakeholder/matrix"};
    }
    if (endpoint == "PUT /api/v1/views/{scope}/{db}/{view}") {
      return {"PUT", "/api/v1/views/type:retainer/matrix/v_" + u, R"({"columns":["title"]})"};
    }
    if (endpoint == "POST /api/v1/users") return {"POST", "/api/v1/users", R"({"email":")" + u + R"(@matrix.test","name":"U","role":"member"})"};
    if (endpoint == "DELETE /api/v1/users/{id}") {
      const Json inv = setup("POST", "/api/v1/users", R"({"email":"d)" + u + R"(@matrix.test","name":"D","role":"member"})");
      secrets.emplace_back(inv.string_or("invitation_token", ""));
      return {"DELETE", "/api/v1/users/" + std::string(inv.string_or("id", ""))};
    }
    if (endpoint == "GET /api/v1/databases") return {"GET", "/api/v1/databases", "", after};
    if (endpoint == "GET /api/v1/clients") return {"GET", "/api/v1/clients", "", after};
    if (endpoint == "GET /api/v1/databases/{db}/records") return {"GET", "/api/v1/databases/matrix/records", "", after};
    if (endpoint == "GET /api/v1/databases/{db}/records#hidden") return {"GET", "/api/v1/databases/hidden/records", "", after};
    if (endpoint == "GET /api/v1/databases/{db}/records/{id}") return {"GET", "/api/v1/databases/matrix/records/" + record, "", after};
    if (endpoint == "GET /api/v1/databases/{db}/records/{id}#hidden") return {"GET", "/api/v1/databases/hidden/records/" + hidden, "", after};
    if (endpoint == "POST /api/v1/databases/{db}/records/{id}/comments") {
      return {"POST", "/api/v1/databases/matrix/records/" + record + "/comments", R"({"body":"hello","visibility":"client"})"};
    }
    if (endpoint == "GET /api/v1/databases/{db}/records/{id}/comments") {
      return {"GET", "/api/v1/databases/matrix/records/" + record + "/comments", "", after};
    }
    if (endpoint == "PATCH /api/v1/comments/{id}" || endpoint == "DELETE /api/v1/comments/{id}") {
      // The admin's own client-visible comment: others may see it, only the admin may change it.
      const Json c = setup("POST", "/api/v1/databases/matrix/records/" + record + "/comments", R"({"body":"mine","visibility":"client"})");
      const std::string target = "/api/v1/comments/" + std::string(c.string_or("id", ""));
      if (endpoint.starts_with("PATCH")) return {"PATCH", target, R"({"body":"edited"})"};
      return {"DELETE", target};
    }
    if (endpoint == "POST /api/v1/databases/{db}/records/{id}/approvals") {
      return {"POST", "/api/v1/databases/matrix/records/" + record + "/approvals", R"({"title":"Sign off"})"};
    }
    if (endpoint == "GET /api/v1/databases/{db}/records/{id}/approvals") {
      return {"GET", "/api/v1/databases/matrix/records/" + record + "/approvals", "", after};
    }
    if (endpoint == "POST /api/v1/approvals/{id}/decision") {
      // A fresh pending request each time; the matrix policy has no `approve`, so no contact may decide.
      const Json a = setup("POST", "/api/v1/databases/matrix/records/" + record + "/approvals", R"({"title":"Sign off"})");
      return {"POST", "/api/v1/approvals/" + std::string(a.string_or("id", "")) + "/decision", R"({"decision":"approved"})"};
    }
    if (endpoint == "GET /api/v1/notifications") return {"GET", "/api/v1/notifications", "", after};
    if (endpoint == "POST /api/v1/forms") {
      return {"POST", "/api/v1/forms", R"({"key":"f_)" + u + R"(","title":"F","database":"matrix","fields":[{"column":"status","label":"S"}],"client_types":["retainer"]})"};
    }
    if (endpoint == "GET /api/v1/forms") return {"GET", "/api/v1/forms", "", after};
    if (endpoint == "POST /api/v1/forms/{form}/submissions") {
      // Naming another client's id as owner changes nothing: the record is the submitter's.
      return {"POST", "/api/v1/forms/intake/submissions", R"({"fields":{"status":"open","owner":")" + other + R"("}})"};
    }
    if (endpoint == "GET /api/v1/databases/{db}/records/{id}/history") {
      return {"GET", "/api/v1/databases/matrix/records/" + record + "/history", "", after};
    }
    if (endpoint == "GET /api/v1/audit") return {"GET", "/api/v1/audit?type=record.created", "", after};
    if (endpoint == "POST /api/v1/databases/{db}/records/{id}/files") {
      return {"POST", "/api/v1/databases/matrix/records/" + record + "/files?column=docs", "bytes " + u, kFileHeaders};
    }
    if (endpoint == "POST /api/v1/databases/{db}/records/{id}/files#comment") {
      // Only its author (the admin) attaches to a comment: others who see it get 403.
      return {"POST", "/api/v1/databases/matrix/records/" + record + "/files?comment=" + comment, "bytes " + u, kFileHeaders};
    }
    if (endpoint == "GET /api/v1/files/{file_id}") return {"GET", "/api/v1/files/" + file, "", after};
    if (endpoint == "GET /api/v1/files/{file_id}#comment") return {"GET", "/api/v1/files/" + comment_file, "", after};
    if (endpoint == "GET /api/v1/files/{file_id}#note") return {"GET", "/api/v1/files/" + note_file, "", after};
    if (endpoint == "DELETE /api/v1/files/{file_id}") {
      // A fresh file of the admin's in the column contacts of the owner read: they see it, it is not theirs.
      return {"DELETE", "/api/v1/files/" + std::string(setup("POST", "/api/v1/databases/matrix/records/" + record + "/files?column=docs",
                                                             "doomed " + u).string_or("file_id", ""))};
    }
    throw std::runtime_error("the test does not know how to call " + endpoint);
  };

  std::map<std::string, std::set<std::string>> principals_of;
  std::vector<std::string> mismatches;
  for (const auto& cell : cells) {
    principals_of[cell.endpoint].insert(cell.principal);
    ASSERT_TRUE(who.contains(cell.principal)) << "unknown principal " << cell.principal;
    const Who& p = who.at(cell.principal);
    const Request r = request_for(cell.endpoint, p);
    ASSERT_TRUE(matches_route(cell.endpoint, r.method, r.target)) << cell.endpoint << " sent as " << r.method << " " << r.target;
    const std::string token = r.token.value_or(p.token);
    const auto answer = call(r.method, r.target, token, r.body, r.headers);
    const bool problem_ok = answer.status < 400 || answer.header("content-type") == "application/problem+json";
    if (answer.status != cell.status || !problem_ok) {
      mismatches.push_back(cell.endpoint + " as " + cell.principal + ": expected " + std::to_string(cell.status) + ", got " +
                           std::to_string(answer.status) + " " + answer.header("content-type") + " " + answer.body.substr(0, 200));
    }
  }
  for (const auto& m : mismatches) ADD_FAILURE() << m;
  EXPECT_EQ(mismatches.size(), 0u) << "of " << cells.size() << " cells";
  for (const auto& [endpoint, principals] : principals_of) {
    EXPECT_EQ(principals.size(), who.size()) << endpoint << " is not tried by every principal";
  }
}

// Last on purpose: every test above added the passwords and tokens it used.
TEST_F(Access, NoPasswordOrTokenReachesTheEventLogOrAServiceLog) {
  EXPECT_GT(secrets.size(), 50u);
  expect_no_secrets(*stack, secrets);
}

}  // namespace
}  // namespace apexloop::testing
