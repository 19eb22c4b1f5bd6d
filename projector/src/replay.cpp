#include "apexloop/projector/replay.hpp"

#include <malloc.h>
#include <rocksdb/db.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <thread>

#include "apexloop/projector/replay_pipeline.hpp"
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

constexpr std::size_t kBatch = 2000;  // messages a poll takes, and a batch the store applies

// Reads the log from `from` until every partition reaches `until` (only what lies before it).
void read_log(events::Consumer& consumer, Offsets from, const Offsets& until, ReplayPipeline& pipe) {
  auto last_progress = std::chrono::steady_clock::now();
  while (!reached(from, until)) {
    if (pipe.stopped()) return;
    RawBatch b = pipe.raw_buffer();
    consumer.poll_each(kBatch, 200ms, [&](Position at, std::string_view value) {
      // Only what lies before `until`: the replayed store must stop exactly where the other did.
      auto it = until.find(at.partition);
      if (it == until.end() || at.offset >= it->second) return;
      auto& next = from[at.partition];
      next = std::max(next, at.offset + 1);
      b.positions.push_back(at);
      b.bytes.append(value);
      b.ends.push_back(b.bytes.size());
    });
    if (b.positions.empty()) {
      if (std::chrono::steady_clock::now() - last_progress > 60s) return pipe.end("the log stopped answering");
      continue;
    }
    last_progress = std::chrono::steady_clock::now();
    b.bytes.append(events::kDecodePadding, ' ');  // the decoders parse each value where it lies
    if (!pipe.push_raw(std::move(b))) return;
  }
  pipe.end();
}

// Decodes raw batches until there are no more, into the envelopes of batches given back.
void decode_log(ReplayPipeline& pipe) {
  while (auto w = pipe.take_raw()) {
    const RawBatch& raw = w->raw;
    std::vector<DecodedMessage>& batch = w->into;
    batch.resize(raw.positions.size());
    std::size_t begin = 0;
    for (std::size_t i = 0; i < raw.positions.size(); ++i) {
      DecodedMessage& m = batch[i];
      m.position = raw.positions[i];
      if (!m.event) m.event.emplace();
      const std::string_view value(raw.bytes.data() + begin, raw.ends[i] - begin);
      if (auto decoded = events::decode_padded_into(value, *m.event); !decoded) {
        m.event = std::unexpected(std::move(decoded.error()));
      }
      begin = raw.ends[i];
    }
    if (!pipe.push_decoded(std::move(w->raw), std::move(batch))) return;
  }
}

}  // namespace

std::expected<ReplayResult, std::string> replay_until(const std::string& data_dir, const events::KafkaConfig& kafka,
                                                     const Offsets& until) {
  std::filesystem::create_directories(data_dir);
  // A replay runs in a process of its own (deploy/replay.sh; the bench), which keeps the memory
  // it frees for what it allocates next. The batches' writes live for a window and are let go
  // of a window at a time on the table writer's thread; by default glibc gave much of that back
  // to the system (blocks of 128 kB and more are mapped one by one, and the heap's free top is
  // trimmed), and the next batches took it again page by page: on this VM, whose balloon takes
  // freed pages back, a fifth of the applying thread's time went in page faults.
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);  // (glibc's most)
  ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  // No write-ahead log while rebuilding: the log being replayed is the store's log. A replay cut
  // short resumes from the last table file RocksDB took; the finished one is written whole before
  // it is hashed. Nor compaction (`replay --into` compacts the store once it is done).
  // The batches skip the memtables: their writes go into table files of the store's own
  // (StoreOptions::own_tables), written 64 MB of writes at a time (~40 MB files). Against windows
  // of 256 MB, back to back: 1M creations 2.87-3.24 s against 4.09-4.39 s (less CPU: smaller
  // indexes, fewer batches to merge, a small last file); the half-updates log 9.0-9.3 s against
  // 8.5-8.8 s (more files to look through for each record read back). Only rows written ahead
  // take a memtable.
  auto store = ReadModelStore::open(data_dir + "/readmodel",
                                    {.write_ahead_log = false,
                                     .write_buffer_bytes = 64u << 20,
                                     .write_buffers = 2,
                                     .compact = false,
                                     .filter_written_keys = true,
                                     .own_tables = true,
                                     .own_table_bytes = 64u << 20});
  if (!store) return std::unexpected(store.error());
  ReplayResult result;
  const auto started = std::chrono::steady_clock::now();
  const double process_cpu = cpu_secs(RUSAGE_SELF), applying_cpu = cpu_secs(RUSAGE_THREAD);
  if (!reached((*store)->offsets(), until)) {
    // librdkafka stops fetching a partition whose local queue holds queued.min.messages or
    // queued.max.messages.kbytes, and looks again only up to a second later: with its defaults
    // (100,000 messages, 64 MB: half a second of a replay) the queue ran dry while the fetcher
    // slept, and the whole replay stood still for a few hundred milliseconds at a time. A queue
    // of up to 256 MB outlasts that second.
    auto cfg = kafka;
    cfg.extra.emplace("queued.min.messages", "10000000");
    cfg.extra.emplace("queued.max.messages.kbytes", "262144");
    // Fetches of up to 16 MB, not 1 MB: a sixteenth of the requests, wake-ups and buffers for
    // the same bytes. Back to back on a fresh broker the replay took ~0.35 s less (3.54-3.66 s
    // against 3.99-4.06 s; 4 MB came in between, 50 MB no better).
    cfg.extra.emplace("max.partition.fetch.bytes", "16777216");
    auto consumer = events::Consumer::create(cfg, "apexloop-replay");
    if (!consumer) return std::unexpected(consumer.error());
    if (auto a = (*consumer)->assign_all((*store)->offsets(), 10s); !a) return std::unexpected(a.error());
    ReplayPipeline pipe;
    std::thread reader([&] { read_log(**consumer, (*store)->offsets(), until, pipe); });
    std::vector<std::thread> decoders;
    for (int i = 0; i < ReplayPipeline::kDecoders; ++i) decoders.emplace_back([&] { decode_log(pipe); });
    std::string failed;
    for (;;) {
      const auto waiting = std::chrono::steady_clock::now();
      auto batch = pipe.pop();
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
      pipe.give_back(std::move(*batch));
      result.events += stats->applied + stats->rejected;
      result.projecting_secs += stats->projecting_secs;
      result.writing_secs += stats->writing_secs;
    }
    pipe.stop();
    reader.join();
    for (auto& d : decoders) d.join();
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
