#pragma once
// Time and randomness are injected so the pure core stays deterministic under test and replay.

#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace apexloop {

// Milliseconds since the Unix epoch, UTC.
struct TimestampMs {
  std::int64_t ms = 0;
  friend auto operator<=>(const TimestampMs&, const TimestampMs&) = default;
};

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual TimestampMs now() const = 0;
};

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
[[nodiscard]] std::string format_timestamp(TimestampMs t);
// The same into `out`, its buffer reused.
void assign_timestamp(std::string& out, TimestampMs t);
// Accepts RFC 3339 date-times (`Z` or a `±HH:MM` offset, optional fraction) and answers UTC ms.
[[nodiscard]] std::expected<TimestampMs, std::string> parse_timestamp(std::string_view s);
// Checks a calendar date `YYYY-MM-DD`.
[[nodiscard]] bool is_valid_date(std::string_view s);

}  // namespace apexloop
