// Crash safety (issue 6): under a write load through the HTTP API, the projector is killed with
// SIGKILL at random moments (at least 20 times; seeded, the seed printed, replayable with
// APEXLOOP_CRASH_SEED) and restarted each time. At the end every acknowledged write is in the
// read models exactly once, at its acknowledged version, and deploy/replay.sh --verify finds the
// live read models byte-identical to a clean replay of the log. The records belong to clients
// whose policy keeps changing the columns it shows, so kills also land in re-projections that
// write a set's rows ahead of their batch (a new generation, keys.hpp).
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "apexloop/core/json.hpp"
#include "harness.hpp"
#include "stack.hpp"

namespace apexloop::testing {
namespace {

using namespace std::chrono_literals;

std::uint64_t seed_from_env() {
  if (const char* s = std::getenv("APEXLOOP_CRASH_SEED"); s != nullptr && *s != '\0') return std::stoull(s);
  return std::random_device{}();
}

long env_int(const char* name, long fallback) {
  const char* s = std::getenv(name);
  return s != nullptr && *s != '\0' ? std::stol(s) : fallback;
}

std::int64_t applied(std::uint16_t port) {
  std::int64_t n = 0;
  const std::string metrics = http_request(port, "GET", "/metrics").body;
  const std::regex line(R"(apexloop_projector_next_offset\{partition="\d+"\} (\d+))");
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), line), end; it != end; ++it) n += std::stoll((*it)[1]);
  return n;
}

// Runs `deploy/replay.sh --verify` against the stack's live store: its exit status, and what it
// printed in `report`.
int replay_verify(const Stack& stack, std::string& report) {
  const std::string out = stack.dir + "/replay-verify.txt";
  Process verify("replay", {APEXLOOP_REPLAY_SCRIPT, "--verify"},
                 {{"KAFKA_BOOTSTRAP", stack.bootstrap}, {"APEXLOOP_TOPIC", stack.topic},
                  {"APEXLOOP_DATA_DIR", stack.dir + "/data"}, {"APEXLOOP_PROJECTOR_BIN", APEXLOOP_PROJECTOR_BIN},
                  {"TMPDIR", stack.dir}},
                 out);
  const int status = verify.wait(60s);
  report = read_file(out);
  return status;
}

// What the writers were told: record id -> the version its last acknowledged write made.
struct Acknowledged {
  std::mutex mu;
  std::map<std::string, std::int64_t> versions;
  std::string last_position;
  int failures = 0;  // answers other than 2xx: such a write may or may not be in the log
};

void write_load(Stack& stack, const std::string& token, int writer, const std::vector<std::string>& owners,
                std::atomic<bool>& stop, Acknowledged& acked) {
  std::mt19937 rng(static_cast<unsigned>(writer));
  const std::map<std::string, std::string> auth{{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  for (int i = 0; !stop.load(); ++i) {
    auto h = auth;
    h["Idempotency-Key"] = "w" + std::to_string(writer) + "-" + std::to_string(i);
    const std::string& owner = owners[static_cast<std::size_t>(i) % owners.size()];
    auto r = http_request(stack.origin, "POST", "/api/v1/databases/load/records",
                          R"({"fields":{"owner":")" + owner + R"(","title":"w)" + std::to_string(writer) + "-" + std::to_string(i) +
                              R"(","size":)" + std::to_string(i % 10) + "}}",
                          h);
    std::lock_guard lock(acked.mu);
    if (r.status != 201) {
      ++acked.failures;
      continue;
    }
    const std::string id(json_of(r).string_or("id", ""));
    acked.versions[id] = 1;
    acked.last_position = r.header("apexloop-position");
    if (rng() % 2 == 0) {
      acked.mu.unlock();
      auto u = http_request(stack.origin, "PATCH", "/api/v1/databases/load/records/" + id,
                            R"({"fields":{"title":"edited )" + std::to_string(i) + R"("}})",
                            {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}, {"If-Match", "1"}});
      acked.mu.lock();
      if (u.status == 200) {
        acked.versions[id] = 2;
        acked.last_position = u.header("apexloop-position");
      } else {
        ++acked.failures;
      }
    }
  }
}

TEST(Crash, ProjectorKilledAtRandomUnderLoadLosesNothingAndAppliesNothingTwice) {
  const std::uint64_t seed = seed_from_env();
  const long kills = env_int("APEXLOOP_CRASH_KILLS", 20);
  std::printf("crash test seed=%llu kills=%ld (replay: APEXLOOP_CRASH_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              kills, static_cast<unsigned long long>(seed));
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);

  Stack stack;
  stack.start();
  auto boot = http_request(stack.origin, "POST", "/api/v1/workspaces",
                           R"({"name":"Crash Co","admin":{"email":"c@crash.test","name":"C","password":")" + kAdminPassword + R"("}})",
                           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
  ASSERT_EQ(boot.status, 201) << boot.body;
  const std::string ws(json_of(boot).string_or("workspace_id", ""));
  auto s = http_request(stack.origin, "POST", "/api/v1/sessions",
                        R"({"workspace":")" + ws + R"(","email":"c@crash.test","password":")" + kAdminPassword + R"("})",
                        {{"Content-Type", "application/json"}});
  const std::string token(json_of(s).string_or("token", ""));
  const std::map<std::string, std::string> auth{{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  ASSERT_EQ(http_request(stack.origin, "POST", "/api/v1/databases", R"({"key":"load","name":"Load"})", auth).status, 201);
  for (const char* column : {R"({"key":"owner","name":"Client","type":"client"})", R"({"key":"title","name":"T","type":"text"})",
                              R"({"key":"size","name":"Size","type":"number"})"}) {
    ASSERT_EQ(http_request(stack.origin, "POST", "/api/v1/databases/load/columns", column, auth).status, 201) << column;
  }
  ASSERT_EQ(http_request(stack.origin, "POST", "/api/v1/client-types", R"({"key":"retainer","name":"Retainer"})", auth).status, 201);
  ASSERT_EQ(http_request(stack.origin, "POST", "/api/v1/portal-roles", R"({"key":"stakeholder","name":"Stakeholder"})", auth).status, 201);
  std::vector<std::string> owners;
  for (int c = 0; c < 3; ++c) {
    auto r = http_request(stack.origin, "POST", "/api/v1/clients", R"({"name":"Client )" + std::to_string(c) + R"(","client_type":"retainer"})", auth);
    ASSERT_EQ(r.status, 201) << r.body;
    owners.emplace_back(json_of(r).string_or("id", ""));
  }

  Acknowledged acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) writers.emplace_back([&, w] { write_load(stack, token, w, owners, stop, acked); });
  // Policies that show the clients other columns, turn and turn about: each change rewrites
  // every client's rows under a new generation.
  std::atomic<int> policy_changes{0};
  writers.emplace_back([&] {
    const char* policies[] = {R"({"read":{"columns":["title"]}})",
                              R"({"read":{"columns":["title","size"],"filter":{"field":"size","op":"lt","value":5}}})"};
    for (int i = 0; !stop.load(); ++i) {
      auto r = http_request(stack.origin, "PUT", "/api/v1/policies/type:retainer/stakeholder/load", policies[i % 2], auth);
      if (r.status == 200) {
        ++policy_changes;
      } else {
        std::lock_guard lock(acked.mu);
        ++acked.failures;
      }
      std::this_thread::sleep_for(40ms);
    }
  });

  // Kill at random moments: sometimes at once after a restart (mid catch-up), sometimes later.
  for (long k = 0; k < kills; ++k) {
    const auto wait = std::chrono::milliseconds(rng() % 4 == 0 ? rng() % 30 : 50 + rng() % 450);
    std::this_thread::sleep_for(wait);
    stack.projector.signal(SIGKILL);
    stack.projector.wait();
    stack.start_projector();
  }
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& t : writers) t.join();

  // The projector catches up with the whole log...
  const auto target = stack.log_size();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (applied(stack.projector_port) < target && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(applied(stack.projector_port), target);

  // ...and holds every acknowledged write exactly once, at its acknowledged version.
  std::map<std::string, int> seen;
  std::string cursor;
  for (;;) {
    auto h = auth;
    h["Apexloop-After"] = acked.last_position;
    auto page = http_request(stack.origin, "GET", "/api/v1/databases/load/records?limit=500" + (cursor.empty() ? "" : "&cursor=" + cursor), "", h);
    ASSERT_EQ(page.status, 200) << page.body;
    const Json j = json_of(page);
    for (const auto& rec : j.find("items")->as_array()) {
      const std::string id(rec.string_or("id", ""));
      ++seen[id];
      auto it = acked.versions.find(id);
      if (it != acked.versions.end()) {
        EXPECT_EQ(rec.find("version")->as_int(), it->second) << id;
      }
    }
    if (!j.find("next_cursor")->is_string()) break;
    cursor = j.find("next_cursor")->as_string();
  }
  std::printf("acknowledged writes: %zu records, %d unanswered; the read models hold %zu\n", acked.versions.size(),
              acked.failures, seen.size());
  std::printf("policy changes: %d\n", policy_changes.load());
  ASSERT_GT(acked.versions.size(), 50u) << "the load was too light to mean anything";
  ASSERT_GT(policy_changes.load(), 20) << "too few re-projections to mean anything";
  for (const auto& [id, _] : acked.versions) EXPECT_EQ(seen[id], 1) << "acknowledged record " << id;
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id << " listed more than once";
  EXPECT_LE(seen.size(), acked.versions.size() + static_cast<std::size_t>(acked.failures)) << "records nobody wrote";

  // The projector is ready (caught up, not stalled) and says how old its last event is.
  EXPECT_TRUE(wait_ready(stack.projector_port, "/readyz", 10s));
  const std::string metrics = http_request(stack.projector_port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("apexloop_projector_stalled 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("apexloop_projector_last_event_age_seconds "), std::string::npos);
  EXPECT_NE(metrics.find("apexloop_kafka_consumer_lag{partition="), std::string::npos);

  // A clean replay to the live projector's offsets is byte-identical (deploy/replay.sh --verify).
  std::string report;
  EXPECT_EQ(replay_verify(stack, report), 0) << report;
  std::smatch live, replay;
  ASSERT_TRUE(std::regex_search(report, live, std::regex(R"(live +([0-9a-f]{64}))"))) << report;
  ASSERT_TRUE(std::regex_search(report, replay, std::regex(R"(replay +([0-9a-f]{64}))"))) << report;
  EXPECT_EQ(live[1], replay[1]) << report;
  std::printf("%s", report.c_str());
}

// The check's negative control: a live store that is not what the log gives is reported, with
// exit status 1. (A check that cannot fail proves nothing.)
TEST(Crash, ReplayVerifyReportsReadModelsThatDifferFromTheLog) {
  Stack stack;
  stack.start();
  auto boot = http_request(stack.origin, "POST", "/api/v1/workspaces",
                           R"({"name":"Drift Co","admin":{"email":"d@drift.test","name":"D","password":")" + kAdminPassword + R"("}})",
                           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kBootstrapToken}});
  ASSERT_EQ(boot.status, 201);
  const auto target = stack.log_size();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (applied(stack.projector_port) < target && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  stack.projector.signal(SIGTERM);
  ASSERT_EQ(stack.projector.wait(), 0);
  {
    // One byte of drift, written behind the projector's back.
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    ASSERT_TRUE(rocksdb::DB::Open(o, stack.dir + "/data/readmodel", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "ws/drift", "x").ok());
  }
  std::string report;
  EXPECT_EQ(replay_verify(stack, report), 1) << report;
  EXPECT_NE(report.find("DIFFERENT"), std::string::npos) << report;
}

}  // namespace
}  // namespace apexloop::testing
