// A cold replay (replay_until: one reader, two decoders, the projection taking the batches back
// in the log's order) against the real broker named by KAFKA_BOOTSTRAP, compared with the same
// messages applied by one thread in the store's own batches.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "apexloop/core/json.hpp"
#include "apexloop/events/codec.hpp"
#include "apexloop/events/kafka.hpp"
#include "apexloop/projector/replay.hpp"
#include "apexloop/projector/store.hpp"

namespace apexloop::projector {
namespace {

using namespace std::chrono_literals;

const std::string kWs = "0190a000-0000-7000-8000-00000000aaaa";

std::string event(std::int64_t n, std::string type, std::string stream, std::uint64_t seq, const std::string& data) {
  Envelope e{"e" + std::to_string(n), std::move(type), 1, kWs, std::move(stream), seq, TimestampMs{1'795'000'000'000 + n},
             Actor{"user", "u"}, "c", "", *parse_json(data)};
  return events::encode(e);
}

// Records created, then updated a few batches later (an update applied before its record, or
// a batch applied twice or skipped, changes what the store ends with), and undecodable
// messages here and there: some fifteen of the replay's batches (2,000 messages each).
std::vector<std::string> log_values() {
  std::vector<std::string> out;
  std::int64_t n = 0;
  out.push_back(event(n++, "workspace.created", "workspace/" + kWs, 1, R"({"name":"Acme"})"));
  out.push_back(event(n++, "database.defined", "database/t", 1, R"({"key":"t","name":"T"})"));
  out.push_back(event(n++, "column.added", "database/t", 2,
                      R"({"database":"t","key":"status","name":"Status","type":"text","options":{},"internal":false})"));
  constexpr int kRecords = 16000;
  for (int i = 0; i < kRecords; ++i) {
    const std::string id = "r" + std::to_string(i);
    out.push_back(event(n++, "record.created", "record/t/" + id, 1,
                        R"({"database":"t","record_id":")" + id + R"(","fields":{"status":"open"}})"));
    if (i % 4000 == 700) out.push_back("not json " + std::to_string(i));
    if (i >= 3000) {  // record i - 3000, created some 3,000 messages earlier
      const std::string old = "r" + std::to_string(i - 3000);
      out.push_back(event(n++, "record.updated", "record/t/" + old, 2,
                          R"({"database":"t","record_id":")" + old + R"(","changes":{"status":{"before":"open","after":"done"}}})"));
    }
  }
  return out;
}

// A fresh one-partition topic holding `values`, on the broker KAFKA_BOOTSTRAP names.
events::KafkaConfig topic_with(const std::vector<std::string>& values, const std::string& name) {
  const char* b = std::getenv("KAFKA_BOOTSTRAP");
  if (b == nullptr || *b == '\0') throw std::runtime_error("KAFKA_BOOTSTRAP is not set: run tests/run.sh");
  events::KafkaConfig cfg;
  cfg.bootstrap = b;
  cfg.topic = "apexloop.test." + name + "." + std::to_string(::getpid()) + "." + std::to_string(std::time(nullptr));
  cfg.partitions = 1;
  if (auto t = events::ensure_topic(cfg, 30s); !t) throw std::runtime_error(t.error());
  auto producer = events::Producer::create(cfg);
  if (!producer) throw std::runtime_error(producer.error());
  std::vector<events::OutgoingEvent> out;
  for (const auto& v : values) out.push_back({"t", 1, v});
  if (auto appended = (*producer)->append("k", out); !appended) throw std::runtime_error(appended.error().detail);
  return cfg;
}

// A directory of the test's own, removed however the test ends.
struct TempDir {
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("apexloop-replay-test-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

TEST(Replay, ACatchUpFromKafkaEndsAsTheSameMessagesAppliedInOrderByOneThread) {
  const auto values = log_values();
  const auto cfg = topic_with(values, "replay");
  auto end = log_end(cfg);
  ASSERT_TRUE(end.has_value()) << end.error();
  ASSERT_EQ(end->at(0), static_cast<std::int64_t>(values.size()));

  const TempDir dir("catch-up");
  const auto& base = dir.path;
  auto replayed = replay_until((base / "replayed").string(), cfg, *end);
  ASSERT_TRUE(replayed.has_value()) << replayed.error();
  EXPECT_EQ(replayed->events, values.size()) << "every message once: applied, or rejected when it is not an event";

  std::vector<events::Message> messages;
  for (std::size_t i = 0; i < values.size(); ++i) messages.push_back({Position{0, static_cast<std::int64_t>(i)}, "k", values[i], "t"});
  auto store = ReadModelStore::open((base / "one-thread").string());
  ASSERT_TRUE(store.has_value()) << store.error();
  std::size_t applied = 0, rejected = 0;
  for (std::size_t i = 0; i < messages.size(); i += 500) {
    auto s = (*store)->apply({messages.begin() + static_cast<std::ptrdiff_t>(i),
                              messages.begin() + static_cast<std::ptrdiff_t>(std::min(messages.size(), i + 500))});
    ASSERT_TRUE(s.has_value()) << s.error();
    applied += s->applied;
    rejected += s->rejected;
  }
  EXPECT_EQ(rejected, 4u) << "the undecodable messages, and nothing else";
  EXPECT_EQ(applied + rejected, values.size());
  EXPECT_EQ(replayed->state.hash, hash_read_models(*(*store)->db()));
  EXPECT_EQ(replayed->state.offsets, read_offsets(*(*store)->db()));
  store->reset();
}

// `apexloop-projector replay --into DIR` (deploy/replay.sh --into): the log's read models, up to
// its end, compacted for the projector that will serve them (nothing left in level 0).
TEST(Replay, IntoADirectoryRebuildsToTheLogsEndAndCompacts) {
  const auto values = log_values();
  const auto cfg = topic_with(values, "into");
  const TempDir dir("into");
  const std::string cmd = "APEXLOOP_TOPIC=" + cfg.topic + " " + APEXLOOP_PROJECTOR_BIN + " replay --into " +
                          (dir.path / "blue").string() + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  for (char buf[512]; std::fgets(buf, sizeof buf, p) != nullptr;) out += buf;
  ASSERT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find("compacted in"), std::string::npos) << out;

  auto end = log_end(cfg);
  ASSERT_TRUE(end.has_value()) << end.error();
  auto again = replay_until((dir.path / "again").string(), cfg, *end);
  ASSERT_TRUE(again.has_value()) << again.error();
  auto store = ReadModelStore::open((dir.path / "blue" / "readmodel").string());
  ASSERT_TRUE(store.has_value()) << store.error();
  std::string level0;
  ASSERT_TRUE((*store)->db()->GetProperty("rocksdb.num-files-at-level0", &level0));
  EXPECT_EQ(level0, "0");
  EXPECT_EQ(hash_read_models(*(*store)->db()), again->state.hash);
  EXPECT_EQ(read_offsets(*(*store)->db()), again->state.offsets);
  EXPECT_NE(out.find(again->state.hash), std::string::npos) << "it prints the hash of what it built: " << out;
  store->reset();
}

}  // namespace
}  // namespace apexloop::projector
