#pragma once
// Deterministic replay (deploy/replay.sh): rebuild read models from the log into a directory,
// up to given offsets, and compare them with a live store by hash.
//
// Replay reads no clock and no randomness: every time the projection uses is the `at` of the
// event being applied, so the same log prefix always gives the same bytes.

#include <cstdint>
#include <expected>
#include <map>
#include <string>

#include "apexloop/events/kafka.hpp"

namespace apexloop::projector {

using Offsets = std::map<std::int32_t, std::int64_t>;  // next offset to consume, per partition

struct StoreState {
  std::string hash;  // hash_read_models
  Offsets offsets;   // read from the same state as the hash
};

// The hash and offsets of the store in `data_dir` (its readmodel/), opened as a secondary beside
// a live projector: it catches up once and then does not move, so both come from one state.
[[nodiscard]] std::expected<StoreState, std::string> live_state(const std::string& data_dir);

struct ReplayResult {
  StoreState state;
  std::uint64_t events = 0;
  double seconds = 0;
  // Where the seconds went on the applying thread: waiting for the next decoded batch (other
  // threads read and decode the log meanwhile), deciding the writes, waiting for the table
  // writer (StoreOptions::own_tables) to catch up.
  double consuming_secs = 0;
  double projecting_secs = 0;
  double writing_secs = 0;
  double rocksdb_secs = 0;  // the table files written, on their own thread (overlapping the above)
  double flushing_secs = 0;  // after the last batch: the last table file, and any memtable, written
  // CPU time over `seconds` (user + system): the whole process (every thread, the reader's,
  // RocksDB's and librdkafka's included), and the applying thread alone.
  double process_cpu_secs = 0;
  double applying_cpu_secs = 0;
};

// Applies the log to the store in `data_dir` (created if missing; a store that exists resumes
// from its own offsets) until every partition reaches `until`; partitions not named in `until`
// are not read at all. Messages at or past `until` are never applied.
[[nodiscard]] std::expected<ReplayResult, std::string> replay_until(const std::string& data_dir,
                                                                   const events::KafkaConfig& kafka, const Offsets& until);

// The log's end now: the high watermark of every partition that holds anything.
[[nodiscard]] std::expected<Offsets, std::string> log_end(const events::KafkaConfig& kafka);

// `apexloop-projector replay --verify LIVE_DATA_DIR WORK_DIR` | `replay --into DIR`; answers the
// exit code (0 same hash / done, 1 hashes differ, 2 usage or failure).
int replay_main(int argc, char** argv);

}  // namespace apexloop::projector
