#include "apexloop/projector/replay_pipeline.hpp"

namespace apexloop::projector {

void RawBatch::clear() {
  positions.clear();
  ends.clear();
  bytes.clear();
}

RawBatch ReplayPipeline::raw_buffer() {
  std::lock_guard lock(mu_);
  if (raw_spare_.empty()) return {};
  RawBatch b = std::move(raw_spare_.back());
  raw_spare_.pop_back();
  b.clear();
  return b;
}

bool ReplayPipeline::push_raw(RawBatch&& b) {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return stopped_ || raw_.size() < kDepth; });
  if (stopped_) return false;
  b.seq = raw_seq_++;
  raw_.push_back(std::move(b));
  changed_.notify_all();
  return true;
}

void ReplayPipeline::end(std::string error) {
  std::lock_guard lock(mu_);
  read_all_ = true;
  error_ = std::move(error);
  changed_.notify_all();
}

std::optional<ReplayPipeline::Work> ReplayPipeline::take_raw() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return stopped_ || !raw_.empty() || read_all_; });
  if (stopped_ || raw_.empty()) return std::nullopt;
  Work w{std::move(raw_.front()), {}};
  raw_.pop_front();
  if (!decoded_spare_.empty()) {
    w.into = std::move(decoded_spare_.back());
    decoded_spare_.pop_back();
  }
  changed_.notify_all();
  return w;
}

bool ReplayPipeline::push_decoded(RawBatch&& raw, std::vector<DecodedMessage>&& decoded) {
  std::unique_lock lock(mu_);
  // The batch the projection waits for always gets in: the decoder holding it never waits on
  // those decoded after it.
  changed_.wait(lock, [&] { return stopped_ || decoded_.size() < kDepth || raw.seq == next_; });
  if (stopped_) return false;
  decoded_.emplace(raw.seq, std::move(decoded));
  if (raw_spare_.size() < kDepth) raw_spare_.push_back(std::move(raw));
  changed_.notify_all();
  return true;
}

std::expected<std::vector<DecodedMessage>, std::string> ReplayPipeline::pop() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return stopped_ || decoded_.contains(next_) || (read_all_ && next_ == raw_seq_); });
  auto it = decoded_.find(next_);
  if (it == decoded_.end()) {
    if (!error_.empty()) return std::unexpected(error_);
    return std::vector<DecodedMessage>{};
  }
  auto batch = std::move(it->second);
  decoded_.erase(it);
  ++next_;
  changed_.notify_all();
  return batch;
}

void ReplayPipeline::give_back(std::vector<DecodedMessage>&& batch) {
  std::lock_guard lock(mu_);
  if (decoded_spare_.size() < kDepth) decoded_spare_.push_back(std::move(batch));
}

void ReplayPipeline::stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  changed_.notify_all();
}

bool ReplayPipeline::stopped() {
  std::lock_guard lock(mu_);
  return stopped_;
}

}  // namespace apexloop::projector
