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
    // Stakeholders read and write the documents; viewers see the record but not that column.
    json_ok("PUT", "/api/v1/policies/type:retainer/stakeholder/tickets",
            R"({"read":{"columns":["title","docs"]},"write":{"columns":["docs"]}})");
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
      {"an unknown parameter", [] { return upload(admin, mine, "x", {{"X-Filename", "a"}}, "?column=docs&comment=1"); }, 400},
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

}  // namespace
}  // namespace apexloop::testing
