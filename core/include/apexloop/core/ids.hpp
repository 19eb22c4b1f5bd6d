#pragma once
// Small strong types for ids and log positions, so a record id cannot be passed where a workspace
// id is expected, and UUIDv7 generation with an injected clock and randomness.

#include <cstdint>
#include <expected>
#include <mutex>
#include <string>
#include <string_view>

#include "apexloop/core/clock.hpp"

namespace apexloop {

template <typename Tag>
struct Id {
  std::string value;
  friend auto operator<=>(const Id&, const Id&) = default;
};
using WorkspaceId = Id<struct WorkspaceTag>;
using UserId = Id<struct UserTag>;
using RecordId = Id<struct RecordTag>;
using EventId = Id<struct EventTag>;

// Where an event sits in the log. A workspace lives in one partition, so positions of one
// workspace are totally ordered by offset.
struct Position {
  std::int32_t partition = 0;
  std::int64_t offset = -1;
  friend auto operator<=>(const Position&, const Position&) = default;
};
// Header form `<partition>:<offset>`.
[[nodiscard]] std::string to_string(Position p);
// The same appended to `out`.
void append_position(std::string& out, Position p);
[[nodiscard]] std::expected<Position, std::string> parse_position(std::string_view s);

// Canonical lowercase 8-4-4-4-12 form, any version.
[[nodiscard]] bool is_uuid(std::string_view s);

// RFC 9562 UUIDv7: 48-bit ms timestamp, then a 12-bit counter that is re-seeded each millisecond
// and incremented within one, so ids from one generator sort in creation order.
class UuidV7Generator {
 public:
  UuidV7Generator(const Clock& clock, RandomSource& random) : clock_(clock), random_(random) {}
  [[nodiscard]] std::string next();

 private:
  const Clock& clock_;
  RandomSource& random_;
  std::mutex mu_;
  std::int64_t last_ms_ = -1;
  std::uint16_t counter_ = 0;
};

}  // namespace apexloop
