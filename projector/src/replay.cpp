#include "apexloop/projector/replay.hpp"

#include <rocksdb/db.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "apexloop/projector/store.hpp"

namespace apexloop::projector {

using namespace std::chrono_literals;

std::expected<StoreState, std::string> live_state(const std::string& data_dir) {
  const auto secondary = std::filesystem::temp_directory_path() / ("apexloop-replay-" + std::to_string(::getpid()));
  auto db = open_secondary(data_dir + "/readmodel", secondary.string());
  if (!db) return std::unexpected(db.error());
  if (auto s = (*db)->TryCatchUpWithPrimary(); !s.ok()) return std::unexpected("catch up: " + s.ToString());
  StoreState out{hash_read_models(**db), read_offsets(**db)};
  db->reset();
  std::error_code ec;
  std::filesystem::remove_all(secondary, ec);
  return out;
}

std::expected<Offsets, std::string> log_end(const events::KafkaConfig& kafka) {
  auto consumer = events::Consumer::create(kafka, "apexloop-replay");
  if (!consumer) return std::unexpected(consumer.error());
  auto hw = (*consumer)->high_watermarks(10s);
  if (!hw) return std::unexpected(hw.error());
  Offsets out;
  for (const auto& [p, h] : *hw) {
    if (h > 0) out[p] = h;
  }
  return out;
}

namespace {

// CPU seconds (user + system) of the process, or of the calling thread.
double cpu_secs(int who) {
  rusage u{};
  ::getrusage(who, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

bool reached(const Offsets& have, const Offsets& until) {
  for (const auto& [p, off] : until) {
    auto it = have.find(p);
    if ((it == have.end() ? 0 : it->second) < off) return false;
  }
  return true;
}

// Batches read and decoded on one thread and projected on another: decoding the next batch
// overlaps projecting this one. At most `kDepth` batches wait. Projected batches come back to
// the reader, which decodes into their envelopes again: their strings keep their memory, and
// what is freed is freed by the thread that allocated it.
class DecodedFeed {
 public:
  static constexpr std::size_t kDepth = 4;

  // A projected batch, for the reader to decode into again.
  void give_back(std::vector<DecodedMessage>&& batch) {
    std::lock_guard lock(mu_);
    if (spare_.size() < kDepth) spare_.push_back(std::move(batch));
  }
  // A batch given back (empty when there is none).
  std::vector<DecodedMessage> spare() {
    std::lock_guard lock(mu_);
    if (spare_.empty()) return {};
    auto batch = std::move(spare_.back());
    spare_.pop_back();
    return batch;
  }

  // False once the reader has stopped the feed.
  bool push(std::vector<DecodedMessage> batch) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return stopped_ || ready_.size() < kDepth; });
    if (stopped_) return false;
    ready_.push_back(std::move(batch));
    changed_.notify_all();
    return true;
  }
  // The end: the log has reached `until` (error empty), or it cannot be read.
  void end(std::string error = {}) {
    std::lock_guard lock(mu_);
    ended_ = true;
    error_ = std::move(error);
    changed_.notify_all();
  }
  // The next batch; an empty one at the end, or the writer's error.
  std::expected<std::vector<DecodedMessage>, std::string> pop() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return !ready_.empty() || ended_; });
    if (ready_.empty()) {
      if (!error_.empty()) return std::unexpected(error_);
      return std::vector<DecodedMessage>{};
    }
    auto batch = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
    return batch;
  }
  void stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    changed_.notify_all();
  }
  bool stopped() {
    std::lock_guard lock(mu_);
    return stopped_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::vector<DecodedMessage>> ready_;
  std::vector<std::vector<DecodedMessage>> spare_;
  bool ended_ = false, stopped_ = false;
  std::string error_;
};

// Reads the log from `from` until every partition reaches `until` (only what lies before it),
// decoding as it goes, straight from librdkafka's buffers.
void read_log(events::Consumer& consumer, Offsets from, const Offsets& until, DecodedFeed& feed) {
  constexpr std::size_t kBatch = 2000;
  auto last_progress = std::chrono::steady_clock::now();
  while (!reached(from, until)) {
    if (feed.stopped()) return;
    std::vector<DecodedMessage> batch = feed.spare();
    std::size_t n = 0;
    consumer.poll_each(kBatch, 200ms, [&](Position at, std::string_view value) {
      // Only what lies before `until`: the replayed store must stop exactly where the other did.
      auto it = until.find(at.partition);
      if (it == until.end() || at.offset >= it->second) return;
      auto& next = from[at.partition];
      next = std::max(next, at.offset + 1);
      if (n == batch.size()) batch.emplace_back();
      DecodedMessage& m = batch[n++];
      m.position = at;
      if (!m.event) m.event.emplace();
      if (auto decoded = events::decode_into(value, *m.event); !decoded) m.event = std::unexpected(std::move(decoded.error()));
    });
    batch.resize(n);
    if (batch.empty()) {
      if (std::chrono::steady_clock::now() - last_progress > 60s) return feed.end("the log stopped answering");
      continue;
    }
    last_progress = std::chrono::steady_clock::now();
    if (!feed.push(std::move(batch))) return;
  }
  feed.end();
}

}  // namespace

std::expected<ReplayResult, std::string> replay_until(const std::string& data_dir, const events::KafkaConfig& kafka,
                                                     const Offsets& until) {
  std::filesystem::create_directories(data_dir);
  // No write-ahead log while rebuilding: the log being replayed is the store's log. A replay cut
  // short resumes from its last flush; the finished one is flushed whole before it is hashed.
  // Nor compaction: the projector that serves the store next compacts it.
  auto store = ReadModelStore::open(data_dir + "/readmodel",
                                    {.write_ahead_log = false,
                                     .write_buffer_bytes = 256u << 20,
                                     .write_buffers = 4,
                                     .compact = false,
                                     .filter_written_keys = true});
  if (!store) return std::unexpected(store.error());
  ReplayResult result;
  const auto started = std::chrono::steady_clock::now();
  const double process_cpu = cpu_secs(RUSAGE_SELF), applying_cpu = cpu_secs(RUSAGE_THREAD);
  if (!reached((*store)->offsets(), until)) {
    auto consumer = events::Consumer::create(kafka, "apexloop-replay");
    if (!consumer) return std::unexpected(consumer.error());
    if (auto a = (*consumer)->assign_all((*store)->offsets(), 10s); !a) return std::unexpected(a.error());
    DecodedFeed feed;
    std::thread reader([&] { read_log(**consumer, (*store)->offsets(), until, feed); });
    std::string failed;
    for (;;) {
      const auto waiting = std::chrono::steady_clock::now();
      auto batch = feed.pop();
      result.consuming_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - waiting).count();
      if (!batch) {
        failed = batch.error();
        break;
      }
      if (batch->empty()) break;
      auto stats = (*store)->apply_decoded(*batch);
      if (!stats) {
        failed = stats.error();
        break;
      }
      feed.give_back(std::move(*batch));
      result.events += stats->applied + stats->rejected;
      result.projecting_secs += stats->projecting_secs;
      result.writing_secs += stats->writing_secs;
    }
    feed.stop();
    reader.join();
    if (!failed.empty()) return std::unexpected(failed);
  }
  const auto flushing = std::chrono::steady_clock::now();
  if (auto f = (*store)->flush(); !f) return std::unexpected(f.error());
  result.flushing_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - flushing).count();
  result.rocksdb_secs = (*store)->write_secs();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.process_cpu_secs = cpu_secs(RUSAGE_SELF) - process_cpu;
  result.applying_cpu_secs = cpu_secs(RUSAGE_THREAD) - applying_cpu;
  result.state = StoreState{hash_read_models(*(*store)->db()), read_offsets(*(*store)->db())};
  return result;
}

}  // namespace apexloop::projector
