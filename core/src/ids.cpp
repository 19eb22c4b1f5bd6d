#include "apexloop/core/ids.hpp"

#include <array>
#include <charconv>

namespace apexloop {

std::string to_string(Position p) {
  std::string out;
  append_position(out, p);
  return out;
}

void append_position(std::string& out, Position p) {
  std::array<char, 24> digits{};  // a 64-bit integer's, sign included
  auto append = [&](auto n) { out.append(digits.data(), std::to_chars(digits.data(), digits.data() + digits.size(), n).ptr); };
  append(p.partition);
  out.push_back(':');
  append(p.offset);
}

std::expected<Position, std::string> parse_position(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size()) {
    return std::unexpected("a position looks like <partition>:<offset>");
  }
  Position p;
  auto r1 = std::from_chars(s.data(), s.data() + colon, p.partition);
  auto r2 = std::from_chars(s.data() + colon + 1, s.data() + s.size(), p.offset);
  if (r1.ec != std::errc{} || r1.ptr != s.data() + colon || r2.ec != std::errc{} ||
      r2.ptr != s.data() + s.size() || p.partition < 0 || p.offset < 0) {
    return std::unexpected("a position looks like <partition>:<offset>");
  }
  return p;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string UuidV7Generator::next() {
  std::array<std::uint8_t, 16> b{};
  random_.fill(b);
  std::int64_t ms = clock_.now().ms;
  {
    std::lock_guard lock(mu_);
    if (ms <= last_ms_) {
      // Same millisecond (or the clock stepped back): keep order by counting on from the last id.
      ms = last_ms_;
      if (++counter_ > 0x0FFF) {
        ++ms;
        counter_ = static_cast<std::uint16_t>(b[6] << 8 | b[7]) & 0x07FF;
      }
    } else {
      // Top bit clear leaves room to count within the millisecond.
      counter_ = static_cast<std::uint16_t>(b[6] << 8 | b[7]) & 0x07FF;
    }
    last_ms_ = ms;
    const auto ums = static_cast<std::uint64_t>(ms);
    for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ums >> (40 - 8 * i));
    b[6] = static_cast<std::uint8_t>(0x70 | (counter_ >> 8));
    b[7] = static_cast<std::uint8_t>(counter_ & 0xFF);
  }
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3F));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xF]);
  }
  return out;
}

}  // namespace apexloop
