#include "apexloop/projector/replay_pipeline.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace apexloop::projector {
namespace {

using namespace std::chrono_literals;

// A raw batch of `n` messages, and a decoded batch marked by its size.
RawBatch raw_of(std::size_t n) {
  RawBatch b;
  for (std::size_t i = 0; i < n; ++i) {
    b.positions.push_back(Position{0, static_cast<std::int64_t>(i)});
    b.bytes += "x";
    b.ends.push_back(b.bytes.size());
  }
  return b;
}
std::vector<DecodedMessage> decoded_of(std::size_t n) { return std::vector<DecodedMessage>(n); }

TEST(ReplayPipeline, BatchesDecodedOutOfOrderAreProjectedInTheOrderRead) {
  ReplayPipeline pipe;
  for (std::size_t n = 1; n <= 3; ++n) ASSERT_TRUE(pipe.push_raw(raw_of(n)));
  std::vector<ReplayPipeline::Work> work;
  for (int i = 0; i < 3; ++i) work.push_back(*pipe.take_raw());
  EXPECT_EQ(work[0].raw.seq, 0u);
  EXPECT_EQ(work[2].raw.seq, 2u);
  ASSERT_TRUE(pipe.push_decoded(std::move(work[2].raw), decoded_of(3)));
  ASSERT_TRUE(pipe.push_decoded(std::move(work[1].raw), decoded_of(2)));
  std::atomic<bool> popped{false};
  std::thread projection([&] {
    auto first = pipe.pop();  // waits for batch 0, though 1 and 2 are there
    popped = true;
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->size(), 1u);
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(popped.load()) << "batch 0 is not decoded yet";
  ASSERT_TRUE(pipe.push_decoded(std::move(work[0].raw), decoded_of(1)));
  projection.join();
  EXPECT_EQ(pipe.pop()->size(), 2u);
  EXPECT_EQ(pipe.pop()->size(), 3u);
  pipe.end();
  auto end = pipe.pop();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->empty()) << "the end, once every batch read is projected";
  EXPECT_FALSE(pipe.take_raw().has_value()) << "the decoders stop";
}

TEST(ReplayPipeline, TheBatchTheProjectionWaitsForIsNeverHeldUpByThoseAfterIt) {
  ReplayPipeline pipe;
  std::thread reader([&] {
    for (std::size_t n = 1; n <= ReplayPipeline::kDepth + 1; ++n) ASSERT_TRUE(pipe.push_raw(raw_of(n)));
  });
  auto first = *pipe.take_raw();
  for (std::size_t i = 0; i < ReplayPipeline::kDepth; ++i) {  // the decoded side fills with later batches
    auto w = *pipe.take_raw();
    ASSERT_TRUE(pipe.push_decoded(std::move(w.raw), decoded_of(w.raw.positions.size())));
  }
  reader.join();
  ASSERT_TRUE(pipe.push_decoded(std::move(first.raw), decoded_of(1))) << "it gets in (or this test hangs)";
  for (std::size_t n = 1; n <= ReplayPipeline::kDepth + 1; ++n) EXPECT_EQ(pipe.pop()->size(), n);
}

TEST(ReplayPipeline, TheReadersErrorComesAfterEveryBatchItRead) {
  ReplayPipeline pipe;
  ASSERT_TRUE(pipe.push_raw(raw_of(1)));
  pipe.end("the log stopped answering");
  auto w = *pipe.take_raw();
  ASSERT_TRUE(pipe.push_decoded(std::move(w.raw), decoded_of(1)));
  EXPECT_EQ(pipe.pop()->size(), 1u);
  auto error = pipe.pop();
  ASSERT_FALSE(error.has_value());
  EXPECT_EQ(error.error(), "the log stopped answering");
}

TEST(ReplayPipeline, BuffersComeBackToBeFilledAgain) {
  ReplayPipeline pipe;
  RawBatch big = raw_of(100);
  const auto capacity = big.bytes.capacity();
  ASSERT_TRUE(pipe.push_raw(std::move(big)));
  auto w = *pipe.take_raw();
  EXPECT_TRUE(w.into.empty()) << "nothing given back yet";
  ASSERT_TRUE(pipe.push_decoded(std::move(w.raw), decoded_of(100)));
  RawBatch again = pipe.raw_buffer();
  EXPECT_TRUE(again.positions.empty() && again.ends.empty() && again.bytes.empty());
  EXPECT_EQ(again.bytes.capacity(), capacity) << "the raw batch's buffer, emptied";
  auto batch = *pipe.pop();
  pipe.give_back(std::move(batch));
  ASSERT_TRUE(pipe.push_raw(std::move(again)));
  EXPECT_EQ(pipe.take_raw()->into.size(), 100u) << "the projected batch, for its envelopes";
}

TEST(ReplayPipeline, StopWakesEveryoneAndEndsTheirWork) {
  ReplayPipeline pipe;
  std::thread decoder([&] { EXPECT_FALSE(pipe.take_raw().has_value()); });
  std::thread projection([&] {
    auto r = pipe.pop();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->empty());
  });
  std::this_thread::sleep_for(50ms);
  pipe.stop();
  decoder.join();
  projection.join();
  EXPECT_TRUE(pipe.stopped());
  EXPECT_FALSE(pipe.push_raw(raw_of(1)));
}

}  // namespace
}  // namespace apexloop::projector
