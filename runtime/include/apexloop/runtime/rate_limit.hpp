#pragma once
// The general per-client request rate limit every service applies before any handler runs:
// a token bucket per client address, `per_second` requests on average with bursts up to `burst`.
// Time comes from the caller (a steady clock in the server, simulated time in tests).

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace apexloop::http {

class RateLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // `per_second` <= 0 switches the limit off.
  RateLimiter(double per_second, double burst, std::size_t max_clients = 100'000);
  [[nodiscard]] bool enabled() const { return per_second_ > 0; }
  // Spends one request of `client`'s budget; when it has none left, answers how long it should
  // wait (whole seconds, at least 1, for Retry-After).
  [[nodiscard]] std::optional<std::chrono::seconds> admit(std::string_view client, TimePoint now);
  [[nodiscard]] std::size_t clients() const;

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint last;
  };
  void refill(Bucket& b, TimePoint now) const;
  void evict(TimePoint now);

  const double per_second_;
  const double burst_;
  const std::size_t max_clients_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// The address a request is from: the peer's, unless the peer is one of `trusted_proxies`
// (nginx in front of the services) and says whom it forwards in X-Forwarded-For, whose last
// entry is the one it added. Anything that is not an IP address there is ignored.
[[nodiscard]] std::string client_address(std::string_view peer, std::string_view forwarded_for,
                                         const std::vector<std::string>& trusted_proxies);

}  // namespace apexloop::http
