// Files (issue 5) through the real broker, services and nginx: uploads streamed into the blob
// store, downloads decided by the caller's own projection, hostile names and oversized bodies.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "apexloop/core/json.hpp"
#include "apexloop/runtime/auth.hpp"
#include "harness.hpp"
#include "stack.hpp"

namespace apexloop::testing {
namespace {

namespace fs = std::filesystem;
using Headers = std::map<std::string, std::string>;

// kB of a process's VmRSS or VmHWM (peak), from /proc.
long proc_kb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field + ":")) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

// Sends `total` bytes as a chunked body from one 1 MiB buffer (never the whole in memory),
// stopping early if the server answers; answers the status line's code (0: none).
int upload_chunked(std::uint16_t port, const std::string& target, const std::string& token, std::size_t total) {
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  const std::string head = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
                           "\r\nX-Filename: big.bin\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  net::write(socket, net::buffer(head));
  const std::string chunk(1 << 20, 'b');
  boost::system::error_code ec;
  for (std::size_t sent = 0; sent < total && !ec; sent += chunk.size()) {
    const std::string size = fmt::format("{:x}\r\n", chunk.size());
    net::write(socket, net::buffer(size), ec);
    if (!ec) net::write(socket, net::buffer(chunk), ec);
    if (!ec) net::write(socket, net::buffer("\r\n", 2), ec);
    if (!ec && socket.available() > 0) break;  // answered already (413): stop sending
  }
  if (!ec) net::write(socket, net::buffer("0\r\n\r\n", 5), ec);
  std::string answer(256, '\0');
  boost::system::error_code rec;
  const std::size_t n = socket.read_some(net::buffer(answer), rec);
  answer.resize(n);
  std::smatch m;
  if (!std::regex_search(answer, m, std::regex(R"(^HTTP/1\.1 (\d{3}))"))) return 0;
  return std::stoi(m[1]);
}

class Files : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack();
    // The blob sweep every second; bytes are kept an hour after they were last stored.
    stack->overrides["command"] = {{"APEXLOOP_BLOB_SWEEP_SECONDS", "1"}, {"APEXLOOP_BLOB_GRACE_SECONDS", "3600"}};
    stack->start();
    auto ws = http_request(stack->origin, "POST", "/api/v1/workspaces",
                           R"({"name":"Files Co","admin":{"email":"boss@files.test","name":"Boss","password":")" + kAdminPassword +
                               R"("}})",
                           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
    ASSERT_EQ(ws.status, 201) << ws.body;
    workspace = json_of(ws).string_or("workspace_id", "");
    admin = sign_in("boss@files.test", kAdminPassword);
    json_ok("POST", "/api/v1/client-types", R"({"key":"retainer","name":"Retainer"})");
    json_ok("POST", "/api/v1/portal-roles", R"({"key":"stakeholder","name":"Stakeholder"})");
    json_ok("POST", "/api/v1/portal-roles", R"({"key":"viewer","name":"Viewer"})");
    acme = json_ok("POST", "/api/v1/clients", R"({"name":"Acme","client_type":"retainer"})").string_or("id", "");
    globex = json_ok("POST", "/api/v1/clients", R"({"name":"Globex","client_type":"retainer"})").string_or("id", "");
    json_ok("POST", "/api/v1/databases", R"({"key":"tickets","name":"Tickets"})");
    for (const char* col : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"Title","type":"text"})",
                            R"({"key":"docs","name":"Documents","type":"file"})"}) {
      json_ok("POST", "/api/v1/databases/tickets/columns", col);
    }
    // Stakeholders read and write the documents and comment; viewers see the record (and its
    // comments) but not that column.
    json_ok("PUT", "/api/v1/policies/type:retainer/stakeholder/tickets",
            R"({"read":{"columns":["title","docs"]},"write":{"columns":["docs"]},"comment":true})");
    json_ok("PUT", "/api/v1/policies/type:retainer/viewer/tickets", R"({"read":{"columns":["title"]}})");
    mine = record_of(acme);
    theirs = record_of(globex);
    ada = contact(acme, "ada@acme.test", "stakeholder");
    vic = contact(acme, "vic@acme.test", "viewer");
    bob = contact(globex, "bob@globex.test", "stakeholder");
  }

  static void TearDownTestSuite() {
    std::unique_ptr<Stack> owned(stack);
    stack = nullptr;
    if (const char* dump = std::getenv("APEXLOOP_EVENT_DUMP"); dump != nullptr && owned != nullptr) {
      std::ofstream out(dump, std::ios::trunc);
      for (const auto& m : owned->read_log()) out << m.value << "\n";
    }
  }

  static HttpResult call(const std::string& method, const std::string& target, const std::string& token,
                         const std::string& body = "", Headers h = {}) {
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    return http_request(stack->origin, method, target, body, h);
  }
  static Json json_ok(const std::string& method, const std::string& target, const std::string& body) {
    auto r = call(method, target, admin, body, {{"Content-Type", "application/json"}});
    if (r.status >= 300) throw std::runtime_error(method + " " + target + ": " + std::to_string(r.status) + " " + r.body);
    position = r.header("apexloop-position");
    return json_of(r);
  }
  static std::string sign_in(const std::string& email, const std::string& password) {
    auto r = http_request(stack->origin, "POST", "/api/v1/sessions",
                          R"({"workspace":")" + workspace + R"(","email":")" + email + R"(","password":")" + password + R"("})",
                          {{"Content-Type", "application/json"}});
    if (r.status != 201) throw std::runtime_error("sign in: " + r.body);
    return std::string(json_of(r).string_or("token", ""));
  }
  static std::string record_of(const std::string& client) {
    return std::string(json_ok("POST", "/api/v1/databases/tickets/records",
                               R"({"fields":{"owner":")" + client + R"(","title":"a ticket"}})")
                           .string_or("id", ""));
  }
  static std::string contact(const std::string& client, const std::string& email, const std::string& role) {
    const Json inv = json_ok("POST", "/api/v1/clients/" + client + "/contacts",
                             R"({"email":")" + email + R"(","name":"C","role":")" + role + R"("})");
    auto r = http_request(stack->origin, "POST", "/api/v1/invitations/" + std::string(inv.string_or("invitation_token", "")) + "/accept",
                          R"({"password":"a long password 1"})", {{"Content-Type", "application/json"}});
    if (r.status != 201) throw std::runtime_error("accept: " + r.body);
    position = r.header("apexloop-position");
    return std::string(json_of(r).string_or("token", ""));
  }
  static HttpResult upload(const std::string& token, const std::string& record, const std::string& bytes,
                           Headers h = {{"X-Filename", "report.pdf"}, {"Content-Type", "application/pdf"}},
                           const std::string& query = "?column=docs") {
    return call("POST", "/api/v1/databases/tickets/records/" + record + "/files" + query, token, bytes, std::move(h));
  }
  static HttpResult download(const std::string& token, const std::string& file_id, const std::string& after) {
    return call("GET", "/api/v1/files/" + file_id, token, "", {{"Apexloop-After", after}});
  }
  static fs::path blobs() { return fs::path(stack->dir) / "data" / "blobs"; }
  static fs::path blob(const std::string& sha256) { return blobs() / sha256.substr(0, 2) / sha256; }
  // A comment by `token` on `record`; answers its id (and sets `position`).
  static std::string comment_on(const std::string& token, const std::string& record, const std::string& body) {
    auto r = call("POST", "/api/v1/databases/tickets/records/" + record + "/comments", token, body,
                  {{"Content-Type", "application/json"}});
    if (r.status != 201) throw std::runtime_error("comment: " + std::to_string(r.status) + " " + r.body);
    position = r.header("apexloop-position");
    return std::string(json_of(r).string_or("id", ""));
  }
  static HttpResult upload_to_comment(const std::string& token, const std::string& record, const std::string& comment,
                                      const std::string& bytes, const std::string& name = "notes.txt") {
    return upload(token, record, bytes, {{"X-Filename", name}, {"Content-Type", "text/plain"}}, "?comment=" + comment);
  }
  static HttpResult remove(const std::string& token, const std::string& file_id, const std::string& query = "") {
    return call("DELETE", "/api/v1/files/" + file_id + query, token);
  }
  static HttpResult comments_of(const std::string& token, const std::string& record, const std::string& after) {
    return call("GET", "/api/v1/databases/tickets/records/" + record + "/comments", token, "", {{"Apexloop-After", after}});
  }
  static HttpResult missing_file(const std::string& token, const std::string& after) {
    return download(token, "0190a000-0000-7000-8000-00000000dead", after);
  }

  static inline Stack* stack = nullptr;
  static inline std::string workspace, admin, acme, globex, mine, theirs, ada, vic, bob, position;
};

TEST_F(Files, UploadThenDownloadRoundTripsTheBytesAndTheirHash) {
  std::mt19937 rng(42);
  std::string bytes(3 * 1024 * 1024 + 17, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  auto up = upload(admin, mine, bytes);
  ASSERT_EQ(up.status, 201) << up.body;
  const Json answer = json_of(up);
  const std::string id(answer.string_or("file_id", ""));
  EXPECT_EQ(answer.string_or("sha256", ""), sha256_hex(bytes));
  EXPECT_EQ(answer.find("size")->as_int(), static_cast<std::int64_t>(bytes.size()));
  EXPECT_EQ(up.header("location"), "/api/v1/files/" + id);
  const std::string at = up.header("apexloop-position");

  auto down = download(admin, id, at);
  ASSERT_EQ(down.status, 200) << down.body;
  EXPECT_EQ(down.body.size(), bytes.size());
  EXPECT_TRUE(down.body == bytes);
  EXPECT_EQ(sha256_hex(down.body), answer.string_or("sha256", ""));
  EXPECT_EQ(down.header("content-type"), "application/pdf");
  EXPECT_EQ(down.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(down.header("content-disposition"), "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  EXPECT_NE(down.header("cache-control").find("no-store"), std::string::npos);

  // The record shows the file in its column, to the admin and to the contact that may read it.
  auto rec = call("GET", "/api/v1/databases/tickets/records/" + mine, ada, "", {{"Apexloop-After", at}});
  ASSERT_EQ(rec.status, 200);
  EXPECT_NE(to_json(*json_of(rec).find("fields")->find("docs")).find(id), std::string::npos);
  // That contact downloads it; a contact of another client, and one whose role cannot read the
  // column, get exactly what a missing file gets.
  auto by_ada = download(ada, id, at);
  EXPECT_EQ(by_ada.status, 200);
  EXPECT_TRUE(by_ada.body == bytes);
  auto missing = download(ada, "0190a000-0000-7000-8000-00000000dead", at);
  EXPECT_EQ(missing.status, 404);
  for (const auto* token : {&bob, &vic}) {
    auto denied = download(*token, id, at);
    EXPECT_EQ(denied.status, 404);
    EXPECT_EQ(denied.body, missing.body);
    EXPECT_EQ(denied.header("content-type"), "application/problem+json");
  }
  auto vic_rec = call("GET", "/api/v1/databases/tickets/records/" + mine, vic, "", {{"Apexloop-After", at}});
  ASSERT_EQ(vic_rec.status, 200) << "the viewer sees the record, just not the column";
  EXPECT_EQ(vic_rec.body.find(id), std::string::npos);

  // The same bytes again: stored once.
  auto again = upload(admin, mine, bytes);
  ASSERT_EQ(again.status, 201);
  EXPECT_NE(json_of(again).string_or("file_id", ""), id);
  std::size_t copies = 0;
  for (const auto& p : files_under(blobs())) copies += p.filename() == answer.string_or("sha256", "") ? 1 : 0;
  EXPECT_EQ(copies, 1u);
}

TEST_F(Files, AContactUploadsOnlyWhereItMayWriteAndRefusalsAppendNothing) {
  auto ok = upload(ada, mine, "from ada");
  ASSERT_EQ(ok.status, 201) << ok.body;
  auto by_ada = download(ada, std::string(json_of(ok).string_or("file_id", "")), ok.header("apexloop-position"));
  EXPECT_EQ(by_ada.status, 200);
  EXPECT_EQ(by_ada.body, "from ada");

  struct Refusal {
    std::string what;
    HttpResult (*send)();
    int status;
  };
  const std::vector<Refusal> refusals{
      {"another client's record", [] { return upload(ada, theirs, "x"); }, 404},
      {"a missing record", [] { return upload(admin, "0190a000-0000-7000-8000-00000000dead", "x"); }, 404},
      {"a role that cannot write the column", [] { return upload(vic, mine, "x"); }, 403},
      {"no token", [] { return upload("", mine, "x"); }, 401},
      {"no column", [] { return upload(admin, mine, "x", {{"X-Filename", "a"}}, ""); }, 400},
      {"not a file column", [] { return upload(admin, mine, "x", {{"X-Filename", "a"}}, "?column=title"); }, 422},
      {"no such column", [] { return upload(admin, mine, "x", {{"X-Filename", "a"}}, "?column=nope"); }, 422},
      {"no file name", [] { return upload(admin, mine, "x", {{"Content-Type", "text/plain"}}); }, 400},
      {"a bad media type", [] { return upload(admin, mine, "x", {{"X-Filename", "a"}, {"Content-Type", "pdf"}}); }, 415},
      {"an unknown parameter", [] { return upload(admin, mine, "x", {{"X-Filename", "a"}}, "?column=docs&colour=red"); }, 400},
  };
  const auto blobs_before = files_under(blobs()).size();
  const auto log_before = stack->log_size();
  for (const auto& r : refusals) {
    auto answer = r.send();
    EXPECT_EQ(answer.status, r.status) << r.what << ": " << answer.body;
    EXPECT_EQ(answer.header("content-type"), "application/problem+json") << r.what;
  }
  EXPECT_EQ(stack->log_size(), log_before) << "a refused upload appended";
  EXPECT_EQ(files_under(blobs()).size(), blobs_before) << "a refused upload stored bytes";
}

TEST_F(Files, An120MiBUploadIs413WithoutTheServiceGrowingOrKeepingAnything) {
  const pid_t pid = stack->command.pid();
  const long rss_before = proc_kb(pid, "VmRSS");
  const long peak_before = proc_kb(pid, "VmHWM");
  const long log_before = stack->log_size();
  const auto stored_before = files_under(blobs()).size();
  // Straight to the command service, chunked: it must read ~100 MiB and refuse mid-body.
  const int status = upload_chunked(stack->command_port, "/api/v1/databases/tickets/records/" + mine + "/files?column=docs",
                                    admin, 120u << 20);
  EXPECT_EQ(status, 413);
  const long rss_after = proc_kb(pid, "VmRSS");
  const long peak_after = proc_kb(pid, "VmHWM");
  ASSERT_GT(rss_before, 0);
  std::printf("command service VmRSS before %ld kB, after %ld kB; VmHWM before %ld kB, after %ld kB\n", rss_before, rss_after,
              peak_before, peak_after);
  EXPECT_LT(rss_after - rss_before, 8 * 1024) << "kB; before " << rss_before << " after " << rss_after;
  EXPECT_LE(peak_after, std::max(peak_before, rss_before + 16 * 1024)) << "kB; the peak while the body streamed";
  // A declared length over the limit is refused at the header, through the origin too.
  const std::string declared = raw_exchange(
      stack->origin, "POST /api/v1/databases/tickets/records/" + mine + "/files?column=docs HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer " + admin + "\r\nX-Filename: big\r\nContent-Length: " + std::to_string(120u << 20) + "\r\n\r\n");
  EXPECT_TRUE(declared.starts_with("HTTP/1.1 413")) << declared.substr(0, 200);
  EXPECT_EQ(stack->log_size(), log_before);
  EXPECT_EQ(files_under(blobs()).size(), stored_before) << "the partial upload was kept";
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
}

TEST_F(Files, AHostileFileNameNeverTouchesTheFileSystemAndComesBackSafely) {
  const auto passwd_time = fs::last_write_time("/etc/passwd");
  const std::string name = "..%2F..%2Fetc%2Fpasswd%22%3B%20x%3D%22y%0D%0AX-Injected%3A%201";
  auto up = upload(admin, mine, "not a password file", {{"X-Filename", name}, {"Content-Type", "text/html"}});
  ASSERT_EQ(up.status, 201) << up.body;
  auto raw = upload(admin, mine, "raw", {{"X-Filename", "../../../../tmp/apexloop-pwned"}});
  ASSERT_EQ(raw.status, 201) << raw.body;
  EXPECT_FALSE(fs::exists("/tmp/apexloop-pwned"));
  EXPECT_EQ(fs::last_write_time("/etc/passwd"), passwd_time);
  // Only content addresses under the blob store.
  for (const auto& p : files_under(blobs())) {
    EXPECT_TRUE(std::regex_match(p.filename().string(), std::regex("[0-9a-f]{64}"))) << p;
    EXPECT_EQ(p.parent_path().filename().string(), p.filename().string().substr(0, 2)) << p;
  }
  auto down = download(admin, std::string(json_of(up).string_or("file_id", "")), up.header("apexloop-position"));
  ASSERT_EQ(down.status, 200);
  EXPECT_EQ(down.body, "not a password file");
  const std::string cd = down.header("content-disposition");
  EXPECT_TRUE(cd.starts_with("attachment; filename=\"")) << cd;
  EXPECT_EQ(cd.find_first_of("\r\n/\\"), std::string::npos) << cd;
  EXPECT_EQ(std::count(cd.begin(), cd.end(), '"'), 2) << "the quotes around the name, no others: " << cd;
  EXPECT_EQ(down.headers.count("x-injected"), 0u);
  // HTML is never served as HTML from our origin.
  EXPECT_EQ(down.header("content-type"), "application/octet-stream");
  EXPECT_EQ(down.header("x-content-type-options"), "nosniff");
}

TEST_F(Files, AnotherWorkspacesAdminCannotDownload) {
  auto up = upload(admin, mine, "ours");
  ASSERT_EQ(up.status, 201);
  auto ws = http_request(stack->origin, "POST", "/api/v1/workspaces",
                         R"({"name":"Other Co","admin":{"email":"boss@other.test","name":"Boss","password":")" + kAdminPassword + R"("}})",
                         {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
  ASSERT_EQ(ws.status, 201);
  auto s = http_request(stack->origin, "POST", "/api/v1/sessions",
                        R"({"workspace":")" + std::string(json_of(ws).string_or("workspace_id", "")) +
                            R"(","email":"boss@other.test","password":")" + kAdminPassword + R"("})",
                        {{"Content-Type", "application/json"}});
  ASSERT_EQ(s.status, 201);
  auto down = download(std::string(json_of(s).string_or("token", "")), std::string(json_of(up).string_or("file_id", "")),
                       up.header("apexloop-position"));
  EXPECT_EQ(down.status, 404);
}

// ---- files on comments ----

TEST_F(Files, AContactAttachesToItsOwnCommentAndWhoeverSeesTheCommentDownloads) {
  const std::string own = comment_on(ada, mine, R"({"body":"the signed contract"})");
  const auto log_before = stack->log_size();
  auto up = upload_to_comment(ada, mine, own, "signed by ada", "contract signed.pdf");
  ASSERT_EQ(up.status, 201) << up.body;
  EXPECT_EQ(stack->log_size(), log_before + 1) << "file.attached alone: a comment lists its files itself";
  const std::string id(json_of(up).string_or("file_id", ""));
  const std::string at = up.header("apexloop-position");

  // The comment lists it, for those who see the comment.
  auto listed = comments_of(ada, mine, at);
  ASSERT_EQ(listed.status, 200) << listed.body;
  bool found = false;
  const Json comments = json_of(listed);  // named: a temporary would die before the loop runs
  for (const auto& c : comments.find("items")->as_array()) {
    if (c.string_or("id", "") != own) continue;
    found = true;
    ASSERT_NE(c.find("files"), nullptr) << listed.body;
    EXPECT_EQ(to_json(*c.find("files")), R"([{"content_type":"text/plain","id":")" + id +
                                              R"(","name":"contract signed.pdf","size":13}])");
  }
  EXPECT_TRUE(found) << listed.body;
  // The contact, its colleague who sees the record (not the column: comments are not columns)
  // and the admin download it; another client's contact gets what a missing file gets.
  for (const auto* token : {&ada, &vic, &admin}) {
    auto down = download(*token, id, at);
    EXPECT_EQ(down.status, 200);
    EXPECT_EQ(down.body, "signed by ada");
  }
  auto foreign = download(bob, id, at);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.body, missing_file(bob, at).body);
  EXPECT_EQ(comments_of(bob, mine, at).status, 404);

  // Only the author attaches to a comment; a comment the caller cannot see is not there.
  const std::string by_admin = comment_on(admin, mine, R"({"body":"our draft","visibility":"client"})");
  struct Refusal {
    std::string what;
    HttpResult answer;
    int status;
  };
  const auto refusals_before = stack->log_size();
  const std::vector<Refusal> refusals{
      {"a colleague on the contact's comment", upload_to_comment(vic, mine, own, "x"), 403},
      {"the admin on the contact's comment", upload_to_comment(admin, mine, own, "x"), 403},
      {"the contact on the admin's comment", upload_to_comment(ada, mine, by_admin, "x"), 403},
      {"another client's contact", upload_to_comment(bob, mine, own, "x"), 404},
      {"the comment under another record", upload_to_comment(admin, theirs, by_admin, "x"), 404},
      {"no such comment", upload_to_comment(admin, mine, "0190a000-0000-7000-8000-00000000dead", "x"), 404},
      {"both a column and a comment", upload(admin, mine, "x", {{"X-Filename", "a"}}, "?column=docs&comment=" + by_admin), 400},
      {"neither", upload(admin, mine, "x", {{"X-Filename", "a"}}, ""), 400},
      {"an empty comment id", upload(admin, mine, "x", {{"X-Filename", "a"}}, "?comment="), 400},
  };
  for (const auto& r : refusals) {
    EXPECT_EQ(r.answer.status, r.status) << r.what << ": " << r.answer.body;
    EXPECT_EQ(r.answer.header("content-type"), "application/problem+json") << r.what;
  }
  EXPECT_EQ(stack->log_size(), refusals_before) << "a refused upload appended";
}

TEST_F(Files, AnInternalNotesFileReachesNoContact) {
  const std::string note = comment_on(admin, mine, R"({"body":"they pay late"})");  // a user's comment is a note by default
  auto up = upload_to_comment(admin, mine, note, "internal figures", "CANARY-INT-NOTE-FILE.xlsx");
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string id(json_of(up).string_or("file_id", ""));
  const std::string at = up.header("apexloop-position");
  EXPECT_EQ(download(admin, id, at).status, 200);
  for (const auto* token : {&ada, &vic, &bob}) {
    auto down = download(*token, id, at);
    EXPECT_EQ(down.status, 404);
    EXPECT_EQ(down.body, missing_file(*token, at).body);
    auto comments = comments_of(*token, mine, at);
    EXPECT_EQ(comments.body.find("CANARY-INT"), std::string::npos) << comments.body;
    EXPECT_EQ(comments.body.find(id), std::string::npos) << comments.body;
    // Not there to attach to, nor to remove.
    EXPECT_EQ(upload_to_comment(*token, mine, note, "x").status, 404);
    EXPECT_EQ(remove(*token, id).status, 404);
  }
  auto internal = comments_of(admin, mine, at);
  EXPECT_NE(internal.body.find("CANARY-INT-NOTE-FILE.xlsx"), std::string::npos) << "the internal view lists it";
}

// ---- removing files ----

TEST_F(Files, ARemovedFileIs404ForEveryoneAndLeavesItsColumn) {
  auto col = upload(admin, mine, "admin's column file");
  ASSERT_EQ(col.status, 201);
  const std::string in_column(json_of(col).string_or("file_id", ""));
  const std::string by_admin = comment_on(admin, mine, R"({"body":"see attached","visibility":"client"})");
  auto com = upload_to_comment(admin, mine, by_admin, "admin's comment file");
  ASSERT_EQ(com.status, 201);
  const std::string on_comment(json_of(com).string_or("file_id", ""));
  const std::string at = com.header("apexloop-position");
  ASSERT_EQ(download(ada, in_column, at).status, 200);
  ASSERT_EQ(download(ada, on_comment, at).status, 200);

  // A contact cannot remove another's file: 403 where it sees the file, 404 where it does not.
  const auto log_before = stack->log_size();
  EXPECT_EQ(remove(ada, in_column).status, 403);
  EXPECT_EQ(remove(ada, on_comment).status, 403);
  EXPECT_EQ(remove(vic, in_column).status, 404) << "the viewer does not read the column";
  EXPECT_EQ(remove(bob, in_column).status, 404);
  EXPECT_EQ(remove(bob, on_comment).status, 404);
  EXPECT_EQ(remove(admin, in_column, "?force=1").status, 400);
  EXPECT_EQ(remove(admin, "not-an-id").status, 404);
  EXPECT_EQ(remove("", in_column).status, 401);
  EXPECT_EQ(stack->log_size(), log_before) << "a refused removal appended";

  // The admin removes both: file.removed (and the column's record.updated), then 404 for all.
  auto gone = remove(admin, in_column);
  ASSERT_EQ(gone.status, 204) << gone.body;
  EXPECT_EQ(stack->log_size(), log_before + 2);
  auto gone_too = remove(admin, on_comment);
  ASSERT_EQ(gone_too.status, 204) << gone_too.body;
  EXPECT_EQ(stack->log_size(), log_before + 3);
  const std::string after = gone_too.header("apexloop-position");
  for (const auto* token : {&admin, &ada, &vic, &bob}) {
    for (const auto& id : {in_column, on_comment}) {
      auto down = download(*token, id, after);
      EXPECT_EQ(down.status, 404);
      EXPECT_EQ(down.body, missing_file(*token, after).body);
    }
  }
  auto rec = call("GET", "/api/v1/databases/tickets/records/" + mine, admin, "", {{"Apexloop-After", after}});
  EXPECT_EQ(rec.body.find(in_column), std::string::npos) << rec.body;
  EXPECT_EQ(comments_of(ada, mine, after).body.find(on_comment), std::string::npos);
  EXPECT_EQ(remove(admin, in_column).status, 404) << "removed once";

  // A contact removes its own files, in a column it writes and on its own comment.
  auto own_col = upload(ada, mine, "ada's column file");
  ASSERT_EQ(own_col.status, 201);
  const std::string own = comment_on(ada, mine, R"({"body":"mine"})");
  auto own_com = upload_to_comment(ada, mine, own, "ada's comment file");
  ASSERT_EQ(own_com.status, 201);
  for (const auto& up : {own_col, own_com}) {
    const std::string id(json_of(up).string_or("file_id", ""));
    auto r = remove(ada, id);
    ASSERT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(download(ada, id, r.header("apexloop-position")).status, 404);
    EXPECT_EQ(download(admin, id, r.header("apexloop-position")).status, 404);
  }
}

// Last on purpose: it backdates blobs, and the sweep runs every second from then on.
TEST_F(Files, TheBlobSweepDeletesOnlyBytesNoLiveFileHoldsOnceTheyAreOld) {
  auto sweeps = [] {
    auto m = http_request(stack->command_port, "GET", "/metrics");
    std::smatch hit;
    if (!std::regex_search(m.body, hit, std::regex(R"(apexloop_command_blob_sweeps_total(?:\{\})? (\d+))"))) return -1L;
    return std::stol(hit[1]);
  };
  auto up = [](const std::string& bytes) {
    auto r = upload(admin, mine, bytes);
    if (r.status != 201) throw std::runtime_error("upload: " + r.body);
    position = r.header("apexloop-position");
    return std::pair{std::string(json_of(r).string_or("file_id", "")), std::string(json_of(r).string_or("sha256", ""))};
  };
  const auto [orphan, orphan_sha] = up("bytes all of whose files are removed");
  const auto [live, live_sha] = up("bytes of a live file");
  const auto [shared_gone, shared_sha] = up("bytes two files share");
  const auto [shared_live, shared_sha_again] = up("bytes two files share");
  const auto [young, young_sha] = up("bytes removed just now");
  ASSERT_EQ(shared_sha, shared_sha_again);
  for (const auto& id : {orphan, shared_gone, young}) ASSERT_EQ(remove(admin, id).status, 204);
  // As if stored two hours ago, past the hour of grace; the young orphan keeps its own time.
  const auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  for (const auto& sha : {orphan_sha, live_sha, shared_sha}) fs::last_write_time(blob(sha), two_hours_ago);

  const long before = sweeps();
  ASSERT_GE(before, 0) << "no sweep metric";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sweeps() < before + 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GE(sweeps(), before + 2) << "the sweep did not run";
  EXPECT_FALSE(fs::exists(blob(orphan_sha))) << "old bytes no live file holds";
  EXPECT_TRUE(fs::exists(blob(live_sha))) << "a live file's bytes";
  EXPECT_TRUE(fs::exists(blob(shared_sha))) << "bytes a removed and a live file share";
  EXPECT_TRUE(fs::exists(blob(young_sha))) << "orphaned bytes within the grace period";
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
  for (const auto& id : {live, shared_live}) EXPECT_EQ(download(admin, id, position).status, 200);

  // The swept bytes uploaded again are stored afresh.
  const auto [again, again_sha] = up("bytes all of whose files are removed");
  EXPECT_EQ(again_sha, orphan_sha);
  auto back = download(ada, again, position);
  EXPECT_EQ(back.status, 200);
  EXPECT_EQ(back.body, "bytes all of whose files are removed");
}

}  // namespace
}  // namespace apexloop::testing
