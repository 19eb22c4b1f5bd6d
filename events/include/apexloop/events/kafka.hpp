#pragma once
// Thin wrappers over librdkafka: the topic, an idempotent acks=all producer that answers only
// once the broker has acknowledged, and a consumer that reads batches with their positions.

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apexloop/core/ids.hpp"

struct rd_kafka_s;
struct rd_kafka_queue_s;

namespace apexloop::events {

struct KafkaConfig {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic = "apexloop.events";
  int partitions = 3;
  int replication = 1;
  // Extra librdkafka properties (e.g. for tests or a real cluster's security settings).
  std::map<std::string, std::string> extra;

  // Reads KAFKA_BOOTSTRAP, APEXLOOP_TOPIC, APEXLOOP_TOPIC_PARTITIONS, APEXLOOP_TOPIC_REPLICATION.
  [[nodiscard]] static KafkaConfig from_env();
};

// Creates the topic if it is missing: infinite retention, the configured partitions and replicas.
[[nodiscard]] std::expected<void, std::string> ensure_topic(const KafkaConfig& cfg,
                                                            std::chrono::milliseconds timeout);

enum class AppendFailure {
  not_written,  // the broker refused it or it never left: safe to report failure
  uncertain,    // it may have been written: the caller must re-read the log before deciding again
};
struct AppendError {
  AppendFailure kind;
  std::string detail;
};

struct OutgoingEvent {
  std::string type;
  int v = 1;
  std::string bytes;
};

class Producer {
 public:
  [[nodiscard]] static std::expected<std::unique_ptr<Producer>, std::string> create(
      const KafkaConfig& cfg);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Appends the events in order under one key (one partition) and blocks until every one is
  // acknowledged by all in-sync replicas, answering their positions.
  [[nodiscard]] std::expected<std::vector<Position>, AppendError> append(
      std::string_view key, const std::vector<OutgoingEvent>& events);

 private:
  explicit Producer(const KafkaConfig& cfg);
  KafkaConfig cfg_;
  rd_kafka_s* rk_ = nullptr;
  struct Poller;
  std::unique_ptr<Poller> poller_;
};

struct Message {
  Position position;
  std::string key;
  std::string value;
  std::string type;  // from the `type` header; empty when absent
};

struct PartitionLag {
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;  // the next offset this consumer will read
  std::int64_t high_watermark = 0;
};

class Consumer {
 public:
  // Partitions are assigned explicitly (assign_all); `group` only names the client. Offsets are
  // never committed to Kafka: the owner of the state keeps them, in the same write as the state.
  [[nodiscard]] static std::expected<std::unique_ptr<Consumer>, std::string> create(
      const KafkaConfig& cfg, const std::string& group);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Reads every partition of the topic from the given offsets (absent: from the beginning).
  [[nodiscard]] std::expected<void, std::string> assign_all(
      const std::map<std::int32_t, std::int64_t>& offsets, std::chrono::milliseconds timeout);

  // Reads one partition only, from `offset` (the audit stream: one workspace's partition).
  [[nodiscard]] std::expected<void, std::string> assign_one(std::int32_t partition, std::int64_t offset);

  // The partition the producer puts `key` in (its murmur2 partitioner over the topic's partitions).
  [[nodiscard]] std::expected<std::int32_t, std::string> partition_of_key(std::string_view key,
                                                                          std::chrono::milliseconds timeout);

  // The first offset of `partition` whose broker timestamp is at or after `ms`; the high
  // watermark when there is none.
  [[nodiscard]] std::expected<std::int64_t, std::string> offset_for_time(std::int32_t partition, std::int64_t ms,
                                                                         std::chrono::milliseconds timeout);

  // What poll() copies out of each message: all of it, or only its position and value (the
  // projector reads the type from the event itself; reading the headers costs as much as a
  // quarter of reading the log).
  enum class Parts { all, value_only };
  // Up to `max` messages; waits up to `timeout` for the first one.
  [[nodiscard]] std::vector<Message> poll(std::size_t max, std::chrono::milliseconds timeout, Parts parts = Parts::all);
  // The same without copying: each message's position and value go to `each` while librdkafka
  // still holds them (a replay decodes them there). Returns how many there were.
  std::size_t poll_each(std::size_t max, std::chrono::milliseconds timeout,
                        const std::function<void(Position, std::string_view)>& each);

  // High watermarks fetched from the broker, per partition of the topic.
  [[nodiscard]] std::expected<std::map<std::int32_t, std::int64_t>, std::string> high_watermarks(
      std::chrono::milliseconds timeout);
  // Lag of the assigned partitions from cached watermarks (no broker round trip).
  [[nodiscard]] std::vector<PartitionLag> lag(const std::map<std::int32_t, std::int64_t>& next) const;


 private:
  explicit Consumer(const KafkaConfig& cfg) : cfg_(cfg) {}
  [[nodiscard]] std::expected<std::vector<std::int32_t>, std::string> partition_ids(
      std::chrono::milliseconds timeout);
  [[nodiscard]] std::expected<std::vector<std::int32_t>, std::string> partition_ids_once(
      std::chrono::milliseconds timeout);
  // Up to `max` messages, a whole batch from the consumer queue at a time, each handed to `fn`
  // (then destroyed); waits up to `timeout` for the first one. Messages carrying an error
  // (librdkafka retries those itself) are left out.
  template <class Fn>
  std::size_t consume(std::size_t max, std::chrono::milliseconds timeout, Fn&& fn);
  KafkaConfig cfg_;
  rd_kafka_s* rk_ = nullptr;
  rd_kafka_queue_s* queue_ = nullptr;  // the consumer's
};

}  // namespace apexloop::events
