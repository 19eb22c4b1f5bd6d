#include "apexloop/runtime/rate_limit.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cmath>

namespace apexloop::http {

RateLimiter::RateLimiter(double per_second, double burst, std::size_t max_clients)
    : per_second_(per_second), burst_(std::max(burst, 1.0)), max_clients_(std::max<std::size_t>(max_clients, 1)) {}

void RateLimiter::refill(Bucket& b, TimePoint now) const {
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst_, b.tokens + elapsed * per_second_);
    b.last = now;
  }
}

// A full bucket holds no state worth keeping: forget those first. If that is not enough (a flood
// from very many addresses), start over rather than let memory grow without bound.
void RateLimiter::evict(TimePoint now) {
  std::erase_if(buckets_, [&](const auto& kv) {
    Bucket b = kv.second;
    refill(b, now);
    return b.tokens >= burst_;
  });
  if (buckets_.size() >= max_clients_) buckets_.clear();
}

std::optional<std::chrono::seconds> RateLimiter::admit(std::string_view client, TimePoint now) {
  if (!enabled()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(client));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) evict(now);
    it = buckets_.emplace(std::string(client), Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  refill(b, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  const double wait = std::ceil((1.0 - b.tokens) / per_second_);
  return std::chrono::seconds(std::max<long>(1, static_cast<long>(wait)));
}

std::size_t RateLimiter::clients() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

std::string client_address(std::string_view peer, std::string_view forwarded_for,
                           const std::vector<std::string>& trusted_proxies) {
  if (forwarded_for.empty() || std::find(trusted_proxies.begin(), trusted_proxies.end(), peer) == trusted_proxies.end()) {
    return std::string(peer);
  }
  const auto comma = forwarded_for.rfind(',');
  std::string_view last = comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
  while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
  while (!last.empty() && last.back() == ' ') last.remove_suffix(1);
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(std::string(last), ec);
  return ec ? std::string(peer) : addr.to_string();
}

}  // namespace apexloop::http
