// Benchmark: cold replay of the log into empty read models (QUALITY.md: 1,000,000 events in
// <= 5 s on the 2-core machine). Appends N events to a fresh topic of the real broker
// (KAFKA_BOOTSTRAP), then times replay_until() from offset 0 into an empty directory: Kafka
// consumer, decode + upcast, the real projection and RocksDB, exactly what deploy/replay.sh runs.
// Not a test: it reports, it does not assert.
//   replay_bench [events=1000000] [clients=200] [policy=0] [updates=0]
// With policy=1 the workspace also has a portal role and a policy for the whole client type, so
// every record is projected into its client's set as well (and notifies it): the shape of a real
// portal's log, where policy=0 measures the internal models alone. With updates=P, P% of the
// record events are record.updated of an earlier record picked at random (seeded): each reads
// that record back from the store, wherever it lies by then.
// APEXLOOP_BENCH_KEEP=1 keeps the replayed store and prints where (to look at its keys).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/core/json.hpp"
#include "apexloop/core/workspace.hpp"
#include "apexloop/events/codec.hpp"
#include "apexloop/events/kafka.hpp"
#include "apexloop/events/upcast.hpp"
#include "apexloop/projector/replay.hpp"
#include "bench_ids.hpp"

using namespace apexloop;
using namespace std::chrono_literals;

namespace {

// CPU seconds of this process's threads whose name starts with `prefix` (Linux: /proc).
double threads_cpu_secs(std::string_view prefix) {
  double secs = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm"), stat(task.path() / "stat");
    std::string name, line;
    if (!std::getline(comm, name) || !name.starts_with(prefix) || !std::getline(stat, line)) continue;
    // After the name's closing parenthesis: state is field 3, utime and stime fields 14 and 15.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 13 && rest >> field; ++i) {
    }
    rest >> utime >> stime;
    secs += static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return secs;
}

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kAdmin = "0190a000-0000-7000-8000-00000000ad01";

std::string id_of(std::uint64_t n) { return bench::id_of("0190a000-0000-7000-8000", n); }

class Appender {
 public:
  explicit Appender(events::Producer& p) : producer_(p) {}
  void add(std::string type, std::string stream, std::uint64_t seq, Json data) {
    Envelope e{id_of(1'000'000'000 + n_), std::move(type), 1, kWs, std::move(stream), seq,
               TimestampMs{1'795'000'000'000 + static_cast<std::int64_t>(n_)}, Actor{"user", kAdmin}, kAdmin, "", std::move(data)};
    e.v = events::current_version(e.type);
    // The model the decisions below read: the workspace, not its million records.
    if (!e.type.starts_with("record.")) (void)model_.apply(e, Position{0, static_cast<std::int64_t>(n_)});
    batch_.push_back({e.type, e.v, events::encode(e)});
    ++n_;
    if (batch_.size() >= 5000) flush();
  }
  // Events a command decision made.
  void commit(const std::expected<std::vector<Draft>, CommandError>& drafts) {
    if (!drafts) {
      std::fprintf(stderr, "decision: %s\n", drafts.error().detail.c_str());
      std::exit(1);
    }
    for (const auto& d : *drafts) add(d.type, d.stream, d.seq, d.data);
  }
  const WorkspaceState& ws() const { return *model_.workspace(kWs); }
  void flush() {
    if (batch_.empty()) return;
    if (auto r = producer_.append(kWs, batch_); !r) {
      std::fprintf(stderr, "append: %s\n", r.error().detail.c_str());
      std::exit(1);
    }
    batch_.clear();
  }
  std::uint64_t count() const { return n_; }

 private:
  events::Producer& producer_;
  std::vector<events::OutgoingEvent> batch_;
  std::uint64_t n_ = 0;
  WriteModel model_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t events_wanted = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const int clients = argc > 2 ? std::atoi(argv[2]) : 200;
  const bool policy = argc > 3 && std::atoi(argv[3]) != 0;
  const std::uint64_t update_pct = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0;
  auto cfg = events::KafkaConfig::from_env();
  cfg.topic = "apexloop.bench.replay." + std::to_string(::getpid()) + "." + std::to_string(std::time(nullptr));
  cfg.partitions = 1;
  if (auto t = events::ensure_topic(cfg, 10s); !t) {
    std::fprintf(stderr, "%s\n", t.error().c_str());
    return 1;
  }
  auto producer = events::Producer::create(cfg);
  if (!producer) {
    std::fprintf(stderr, "%s\n", producer.error().c_str());
    return 1;
  }
  Appender log(**producer);
  const auto t0 = std::chrono::steady_clock::now();
  // A workspace as the command service would write it: schema, clients, then records.
  log.add("workspace.created", "workspace/" + kWs, 1, Json(Json::Object{{"name", "Bench"}}));
  log.add("database.defined", "database/projects", 1, Json(Json::Object{{"key", "projects"}, {"name", "Projects"}}));
  std::uint64_t seq = 2;
  for (const auto& [key, type] : {std::pair{"owner", "client"}, {"title", "text"}, {"status", "text"}, {"budget", "number"}}) {
    log.add("column.added", "database/projects", seq++,
            Json(Json::Object{{"database", "projects"}, {"key", key}, {"name", key}, {"type", type},
                              {"options", Json(Json::Object{})}, {"internal", false}}));
  }
  log.add("client_type.defined", "client_type/retainer", 1, Json(Json::Object{{"key", "retainer"}, {"name", "Retainer"}}));
  for (int c = 0; c < clients; ++c) {
    log.add("client.created", "client/" + id_of(500'000'000 + c), 1,
            Json(Json::Object{{"client_id", id_of(500'000'000 + c)}, {"name", "Client " + std::to_string(c)}, {"client_type", "retainer"}}));
  }
  if (policy) {
    log.commit(decide_define_portal_role(log.ws(), *parse_json(R"({"key":"stakeholder","name":"Stakeholder"})")));
    log.commit(decide_set_policy(log.ws(), "type:retainer", "stakeholder", "projects",
                                 *parse_json(R"({"read":{"columns":["title","status"]}})")));
  }
  std::vector<std::uint64_t> versions;  // of each record created so far
  std::uint64_t rng = 0x9e3779b97f4a7c15ULL;
  while (log.count() < events_wanted) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;  // a fixed sequence: every run appends the same log
    if (!versions.empty() && (rng >> 33) % 100 < update_pct) {
      const std::uint64_t u = (rng >> 7) % versions.size();
      const std::string id = id_of(u);
      const bool was_open = versions[u] % 2 == 1;  // status flips with each update
      log.add("record.updated", "record/projects/" + id, ++versions[u],
              Json(Json::Object{{"database", "projects"},
                                {"record_id", id},
                                {"changes", Json(Json::Object{{"status", Json(Json::Object{{"before", was_open ? "open" : "done"},
                                                                                         {"after", was_open ? "done" : "open"}})}})}}));
      continue;
    }
    const std::uint64_t r = versions.size();
    versions.push_back(1);
    const std::string id = id_of(r);
    log.add("record.created", "record/projects/" + id, 1,
            Json(Json::Object{{"database", "projects"},
                              {"record_id", id},
                              {"fields", Json(Json::Object{{"owner", id_of(500'000'000 + r % clients)},
                                                           {"title", "Project " + std::to_string(r)},
                                                           {"status", "open"},
                                                           {"budget", static_cast<std::int64_t>(r % 10000)}})}}));
  }
  log.flush();
  const double append_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("appended %llu events in %.1f s\n", static_cast<unsigned long long>(log.count()), append_secs);

  const auto dir = std::filesystem::temp_directory_path() / ("apexloop-replay-bench-" + std::to_string(::getpid()));
  auto end = projector::log_end(cfg);
  if (!end) {
    std::fprintf(stderr, "%s\n", end.error().c_str());
    return 1;
  }
  auto r = projector::replay_until(dir.string(), cfg, *end);
  if (!r) {
    std::fprintf(stderr, "replay: %s\n", r.error().c_str());
    return 1;
  }
  std::printf("cold replay: %llu events in %.2f s = %.0f events/s (target: 1,000,000 in <= 5 s)\n",
              static_cast<unsigned long long>(r->events), r->seconds, static_cast<double>(r->events) / r->seconds);
  std::printf("  of which: consuming %.2f s, projecting %.2f s, waiting for the table writer %.2f s\n",
              r->consuming_secs, r->projecting_secs, r->writing_secs);
  std::printf("  the table files written, on their own thread meanwhile: %.2f s\n", r->rocksdb_secs);
  std::printf("  then writing the last table file: %.2f s\n", r->flushing_secs);
  std::printf("  CPU: %.2f s in all threads (of %.2f s on 2 cores), %.2f s of it the applying thread's\n",
              r->process_cpu_secs, 2 * r->seconds, r->applying_cpu_secs);
  // RocksDB's background threads do nothing but this replay's flushes (the appending above has
  // no store), and outlive the store: their CPU is the flushes' whole cost. (The batches skip the
  // memtables: only rows written ahead, a re-projection's, are flushed.)
  std::printf("  of it RocksDB's background threads' (flushing memtables): %.2f s\n", threads_cpu_secs("rocksdb:"));
  std::printf("read-model hash %s\n", r->state.hash.c_str());
  if (std::getenv("APEXLOOP_BENCH_KEEP") != nullptr) {
    std::printf("kept the replayed store in %s\n", dir.c_str());
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return 0;
}
