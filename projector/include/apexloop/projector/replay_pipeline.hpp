// The cold replay's hand-offs between its threads (replay.cpp): one reads the log, several
// decode it, the projection applies it in the log's order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apexloop/projector/store.hpp"

namespace apexloop::projector {

// One poll's messages, copied out of librdkafka into one buffer: what a decoder decodes.
struct RawBatch {
  std::uint64_t seq = 0;  // set by push_raw(): batches reach the projection in this order
  std::vector<Position> positions;
  std::vector<std::size_t> ends;  // where each message's value ends in `bytes`
  std::string bytes;
  void clear();
};

// One thread reads the log; `kDecoders` threads decode its batches, each a whole batch at a
// time; the projection takes them back in the order they were read. Two decoders because
// decoding once cost about as much as projecting and one kept the projection waiting; since
// decoding reuses its envelopes and parses in place, one keeps up about as well (1M events:
// 4.07-4.18 s against 4.16-4.20 s with two), and the second costs nothing measurable.
//
// Both hand-offs are bounded (the reader waits while kDepth batches wait to be decoded, a
// decoder while kDepth decoded batches wait to be projected, unless it holds the very batch the
// projection waits for), and every buffer comes back to be filled again: raw batches to the
// reader; projected batches to the decoders, which decode into their envelopes again, so that
// the envelopes' strings keep their memory and what is freed is freed by the thread that
// allocated it.
class ReplayPipeline {
 public:
  static constexpr std::size_t kDepth = 4;
  static constexpr int kDecoders = 2;

  // The reader: a raw batch to fill (a used one when there is one); hands it on, numbered in
  // order (false once the pipeline is stopped); says the log is read (error empty) or cannot be.
  RawBatch raw_buffer();
  bool push_raw(RawBatch&& b);
  void end(std::string error = {});

  // A decoder: the next raw batch, and a decoded batch to fill (a used one when there is one);
  // nullopt once there is no more. Then hands the decoded batch on (false once stopped).
  struct Work {
    RawBatch raw;
    std::vector<DecodedMessage> into;
  };
  std::optional<Work> take_raw();
  bool push_decoded(RawBatch&& raw, std::vector<DecodedMessage>&& decoded);

  // The projection: the next batch in the order read; an empty one at the end, or the reader's
  // error. A projected batch goes back for a decoder to fill again.
  std::expected<std::vector<DecodedMessage>, std::string> pop();
  void give_back(std::vector<DecodedMessage>&& batch);

  // Everyone stops waiting; the threads' next calls answer false or nullopt.
  void stop();
  bool stopped();

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<RawBatch> raw_;                                      // read, to decode
  std::map<std::uint64_t, std::vector<DecodedMessage>> decoded_;  // decoded, by seq, to project
  std::vector<RawBatch> raw_spare_;
  std::vector<std::vector<DecodedMessage>> decoded_spare_;
  std::uint64_t raw_seq_ = 0;  // batches read
  std::uint64_t next_ = 0;     // the next batch to project
  bool read_all_ = false, stopped_ = false;
  std::string error_;
};

}  // namespace apexloop::projector
