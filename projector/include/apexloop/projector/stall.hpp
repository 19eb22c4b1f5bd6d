#pragma once
// When is the projector stalled (GET /readyz answers 503)? When the log holds events it has not
// applied (lag > 0) and it has applied nothing for `limit`. An idle projector with nothing to
// do is not stalled, however long ago its last event was. Time is passed in, so the rule is
// tested with simulated time.

#include <chrono>
#include <cstdint>

namespace apexloop::projector {

class StallDetector {
 public:
  explicit StallDetector(std::chrono::milliseconds limit) : limit_(limit) {}

  // `lag`: events in the log not yet applied (all partitions); `applied`: a number that grows
  // with every applied event (the sum of the next offsets); `now`: a monotonic clock reading.
  void observe(std::int64_t lag, std::int64_t applied, std::chrono::steady_clock::time_point now) {
    if (!seen_ || applied != applied_ || lag <= 0) since_ = now;
    seen_ = true;
    applied_ = applied;
    lag_ = lag;
    now_ = now;
  }

  [[nodiscard]] bool stalled() const { return seen_ && lag_ > 0 && now_ - since_ >= limit_; }
  // How long it has made no progress while behind (0 when not behind).
  [[nodiscard]] double stuck_seconds() const {
    return seen_ && lag_ > 0 ? std::chrono::duration<double>(now_ - since_).count() : 0.0;
  }

 private:
  std::chrono::milliseconds limit_;
  bool seen_ = false;
  std::int64_t applied_ = 0;
  std::int64_t lag_ = 0;
  std::chrono::steady_clock::time_point since_{}, now_{};
};

}  // namespace apexloop::projector
