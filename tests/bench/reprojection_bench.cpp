// Benchmark: re-projection when a policy touching N records changes (QUALITY.md: 100,000 records
// in <= 0.5 s on the 2-core machine). Real RocksDB store, real projection code; the events are the
// ones the command service's decisions produce. Not a test: it reports, it does not assert.
//   reprojection_bench [records=100000] [clients=200]
#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>

#include "apexloop/core/workspace.hpp"
#include "bench_ids.hpp"
#include "apexloop/events/codec.hpp"
#include "apexloop/projector/store.hpp"

using namespace apexloop;

namespace {

double thread_cpu_secs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";
const std::string kAdmin = "0190a000-0000-7000-8000-00000000ad01";

std::string id_of(std::uint64_t n) { return bench::id_of("0190a000-0000-7000-8000", n); }

class Feed {
 public:
  explicit Feed(projector::ReadModelStore& store) : store_(store) {}
  void commit(const std::vector<Draft>& drafts) {
    for (const auto& d : drafts) {
      Envelope e{id_of(offset_ + 1'000'000'000), d.type, 1, kWs, d.stream, d.seq, TimestampMs{1'795'000'000'000 + offset_},
                 Actor{"user", kAdmin}, kAdmin, "", d.data};
      if (auto r = wm_.apply(e, Position{0, offset_}); !r) {
        std::fprintf(stderr, "apply: %s\n", r.error().c_str());
        std::exit(1);
      }
      pending_.push_back({Position{0, offset_++}, kWs, events::encode(e), e.type});
      if (pending_.size() >= 2000) flush();
    }
  }
  double flush() {
    if (pending_.empty()) return 0;
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = thread_cpu_secs();
    auto s = store_.apply(pending_);
    if (s && !store_.sync()) s = std::unexpected("write failed");  // timed until RocksDB has it all
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last_cpu_secs = thread_cpu_secs() - cpu0;
    if (!s || s->rejected != 0) {
      std::fprintf(stderr, "store apply failed\n");
      std::exit(1);
    }
    pending_.clear();
    applying_secs += secs;
    last = *s;
    return secs;
  }
  const WorkspaceState& ws() const { return *wm_.workspace(kWs); }
  double applying_secs = 0;  // inside ReadModelStore::apply only
  double last_cpu_secs = 0;  // CPU time of this thread in the last flush (steadier on a busy box)
  projector::BatchStats last;

 private:
  projector::ReadModelStore& store_;
  WriteModel wm_;
  std::vector<events::Message> pending_;
  std::int64_t offset_ = 0;
};

using bench::parse;

// Waits until RocksDB has no flush or compaction running or due, so that a measured step is not
// sharing the two cores with background work left by the steps before it.
void settle(projector::ReadModelStore& store) {
  rocksdb::DB& db = *store.db();
  for (;;) {
    std::uint64_t busy = 0, n = 0;
    for (const char* p : {"rocksdb.num-running-flushes", "rocksdb.num-running-compactions",
                          "rocksdb.mem-table-flush-pending", "rocksdb.compaction-pending"}) {
      if (db.GetIntProperty(p, &n)) busy += n;
    }
    if (busy == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const long records = argc > 1 ? std::atol(argv[1]) : 100'000;
  const long clients = argc > 2 ? std::atol(argv[2]) : 200;
  const auto dir = std::filesystem::temp_directory_path() / ("apexloop-bench-" + std::to_string(::getpid()));
  auto store = projector::ReadModelStore::open(dir.string());
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().c_str());
    return 1;
  }
  Feed feed(**store);
  const auto client_ids = bench::define_workspace(feed, kWs, kAdmin, "0190a000-0000-7000-8000", clients);
  feed.commit(*decide_set_policy(feed.ws(), "type:retainer", "stakeholder", "tickets",
                                 parse(R"({"read":{"columns":["title","status"]}})")));
  const auto load0 = std::chrono::steady_clock::now();
  for (long i = 0; i < records; ++i) {
    const std::string fields = R"({"fields":{"owner":")" + client_ids[static_cast<std::size_t>(i % clients)] +
                               R"(","title":"Ticket number )" + std::to_string(i) + R"(","status":"open","priority":)" +
                               std::to_string(i % 10) + R"(,"margin":12}})";
    auto out = decide_create_record(feed.ws(), "tickets", parse(fields), id_of(static_cast<std::uint64_t>(i)), kAdmin, std::nullopt);
    feed.commit(out->drafts);
  }
  feed.flush();
  const double load_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - load0).count();
  const double ingest_secs = feed.applying_secs;

  // The measured step: a policy change for the whole client type touches every record. Three
  // changes, alternating two policies, so that each one really changes what every set holds.
  const char* policies[] = {
      R"({"read":{"columns":["title","status","priority"],"filter":{"field":"priority","op":"lt","value":5}}})",
      R"({"read":{"columns":["title","status"]}})"};
  std::vector<double> policy_secs;
  // APEXLOOP_BENCH_REPEAT makes more changes (for profiling the step alone).
  const long repeat = std::max(1L, std::atol(std::getenv("APEXLOOP_BENCH_REPEAT") ? std::getenv("APEXLOOP_BENCH_REPEAT") : "3"));
  for (long i = 0; i < repeat; ++i) {
    settle(**store);
    feed.commit(*decide_set_policy(feed.ws(), "type:retainer", "stakeholder", "tickets", parse(policies[i % 2])));
    policy_secs.push_back(feed.flush());
    std::fprintf(stderr, "  (%.3f s projecting, the rest RocksDB taking the batch; %.3f s on this thread's CPU)\n",
                 feed.last.projecting_secs, feed.last_cpu_secs);
  }
  // A change that leaves every row as it was: the same read rule, with a writable column
  // added. Each record is still re-evaluated; no row is written again.
  const char* same_rows = repeat % 2 == 1 ? R"({"read":{"columns":["title","status","priority"],"filter":{"field":"priority","op":"lt","value":5}},"write":{"columns":["status"]}})"
                                          : R"({"read":{"columns":["title","status"]},"write":{"columns":["status"]}})";
  settle(**store);
  feed.commit(*decide_set_policy(feed.ws(), "type:retainer", "stakeholder", "tickets", parse(same_rows)));
  const double same_rows_secs = feed.flush();
  std::printf("records=%ld clients=%ld\n", records, clients);
  std::printf("projected record.created: %.0f events/s (%.2f s applying, %.2f s in all)\n",
              static_cast<double>(records) / ingest_secs, ingest_secs, load_secs);
  for (const double s : policy_secs) {
    std::printf("policy change touching %ld records: %.3f s (%.0f records/s)\n", records, s,
                static_cast<double>(records) / s);
  }
  std::printf("policy change touching %ld records, every row unchanged (write rights only): %.3f s\n", records,
              same_rows_secs);
  store->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
