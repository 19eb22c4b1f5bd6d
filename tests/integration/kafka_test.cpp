// The Kafka client against the real broker named by KAFKA_BOOTSTRAP (started by tests/run.sh):
// what the consumer hands out, in order, in batches, with or without copying.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

#include "apexloop/events/kafka.hpp"

namespace apexloop::events {
namespace {

using namespace std::chrono_literals;

class KafkaClient : public ::testing::Test {
 protected:
  static constexpr std::int64_t kEvents = 1300;  // more than one batch of the consumer queue (512)

  static void SetUpTestSuite() {
    const char* b = std::getenv("KAFKA_BOOTSTRAP");
    ASSERT_TRUE(b != nullptr && *b != '\0') << "KAFKA_BOOTSTRAP is not set: run tests/run.sh";
    cfg = new KafkaConfig;
    cfg->bootstrap = b;
    cfg->topic = "apexloop.test.kafka." + std::to_string(::getpid()) + "." + std::to_string(std::time(nullptr));
    cfg->partitions = 1;
    ASSERT_TRUE(ensure_topic(*cfg, 30s).has_value());
    auto producer = Producer::create(*cfg);
    ASSERT_TRUE(producer.has_value()) << producer.error();
    std::vector<OutgoingEvent> events;
    for (std::int64_t i = 0; i < kEvents; ++i) events.push_back({"t" + std::to_string(i % 3), 1, value(i)});
    auto appended = (*producer)->append("k", events);
    ASSERT_TRUE(appended.has_value()) << appended.error().detail;
  }
  static void TearDownTestSuite() { delete cfg; }

  static std::string value(std::int64_t i) { return R"({"n":)" + std::to_string(i) + std::string(i % 50, 'x') + "}"; }

  static std::unique_ptr<Consumer> consumer() {
    auto c = Consumer::create(*cfg, "apexloop-test-kafka");
    EXPECT_TRUE(c.has_value());
    EXPECT_TRUE((*c)->assign_all({}, 10s).has_value());
    return std::move(*c);
  }

  static KafkaConfig* cfg;
};
KafkaConfig* KafkaClient::cfg = nullptr;

TEST_F(KafkaClient, PollHandsOutEveryMessageInOrderWithItsKeyAndType) {
  auto c = consumer();
  std::vector<Message> got;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (static_cast<std::int64_t>(got.size()) < kEvents && std::chrono::steady_clock::now() < deadline) {
    auto batch = c->poll(1000, 200ms);
    EXPECT_LE(batch.size(), 1000u);
    for (auto& m : batch) got.push_back(std::move(m));
  }
  ASSERT_EQ(static_cast<std::int64_t>(got.size()), kEvents);
  for (std::int64_t i = 0; i < kEvents; ++i) {
    const auto& m = got[static_cast<std::size_t>(i)];
    EXPECT_EQ(m.position.offset, i);
    EXPECT_EQ(m.value, value(i));
    EXPECT_EQ(m.key, "k");
    EXPECT_EQ(m.type, "t" + std::to_string(i % 3));
  }
}

TEST_F(KafkaClient, PollEachHandsOutEveryMessageInOrderAtMostMaxACall) {
  auto c = consumer();
  std::int64_t next = 0;
  std::size_t calls = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (next < kEvents && std::chrono::steady_clock::now() < deadline) {
    std::size_t seen = 0;
    const std::size_t n = c->poll_each(700, 200ms, [&](Position at, std::string_view v) {
      EXPECT_EQ(at.offset, next);
      EXPECT_EQ(v, value(next));
      ++next;
      ++seen;
    });
    EXPECT_EQ(n, seen);
    EXPECT_LE(n, 700u);
    ++calls;
  }
  EXPECT_EQ(next, kEvents);
  EXPECT_GE(calls, 2u) << "1,300 messages do not fit in calls of 700";
  // Nothing more: the call waits up to its timeout for a first message, then answers none.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c->poll_each(700, 300ms, [&](Position, std::string_view) { ADD_FAILURE() << "no message is left"; }), 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
}

}  // namespace
}  // namespace apexloop::events
