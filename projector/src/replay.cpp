#include "apexloop/projector/replay.hpp"

#include <rocksdb/db.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

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

bool reached(const Offsets& have, const Offsets& until) {
  for (const auto& [p, off] : until) {
    auto it = have.find(p);
    if ((it == have.end() ? 0 : it->second) < off) return false;
  }
  return true;
}

}  // namespace

std::expected<ReplayResult, std::string> replay_until(const std::string& data_dir, const events::KafkaConfig& kafka,
                                                     const Offsets& until) {
  std::filesystem::create_directories(data_dir);
  // No write-ahead log while rebuilding: the log being replayed is the store's log. A replay cut
  // short resumes from its last flush; the finished one is flushed whole before it is hashed.
  auto store = ReadModelStore::open(data_dir + "/readmodel", {.write_ahead_log = false, .write_buffer_bytes = 256u << 20});
  if (!store) return std::unexpected(store.error());
  ReplayResult result;
  const auto started = std::chrono::steady_clock::now();
  if (!reached((*store)->offsets(), until)) {
    auto consumer = events::Consumer::create(kafka, "apexloop-replay");
    if (!consumer) return std::unexpected(consumer.error());
    if (auto a = (*consumer)->assign_all((*store)->offsets(), 10s); !a) return std::unexpected(a.error());
    auto last_progress = std::chrono::steady_clock::now();
    while (!reached((*store)->offsets(), until)) {
      const auto polled = std::chrono::steady_clock::now();
      auto batch = (*consumer)->poll(2000, 200ms);
      result.consuming_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - polled).count();
      // Only what lies before `until`: the replayed store must stop exactly where the other did.
      std::erase_if(batch, [&](const events::Message& m) {
        auto it = until.find(m.position.partition);
        return it == until.end() || m.position.offset >= it->second;
      });
      if (batch.empty()) {
        if (std::chrono::steady_clock::now() - last_progress > 60s) return std::unexpected("the log stopped answering");
        continue;
      }
      last_progress = std::chrono::steady_clock::now();
      auto stats = (*store)->apply(batch);
      if (!stats) return std::unexpected(stats.error());
      result.events += stats->applied + stats->rejected;
      result.projecting_secs += stats->projecting_secs;
      result.writing_secs += stats->writing_secs;
    }
  }
  if (auto f = (*store)->flush(); !f) return std::unexpected(f.error());
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.state = StoreState{hash_read_models(*(*store)->db()), read_offsets(*(*store)->db())};
  return result;
}

}  // namespace apexloop::projector
