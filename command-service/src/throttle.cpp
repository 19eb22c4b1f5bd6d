#include "apexloop/command/throttle.hpp"

namespace apexloop::command {

std::optional<std::chrono::seconds> SigninThrottle::blocked(const std::string& account) {
  std::lock_guard lock(mu_);
  auto it = accounts_.find(account);
  const std::int64_t now = clock_.now().ms;
  if (it == accounts_.end() || it->second.locked_until_ms <= now) return std::nullopt;
  return std::chrono::seconds((it->second.locked_until_ms - now + 999) / 1000);
}

bool SigninThrottle::failure(const std::string& account) {
  std::lock_guard lock(mu_);
  const std::int64_t now = clock_.now().ms;
  if (accounts_.size() >= max_accounts_) evict_stale(now);
  Entry& e = accounts_[account];
  e.last_ms = now;
  if (++e.failures < max_failures_) return false;
  // Locked; after the lockout one more try is allowed, and a failure locks again at once.
  e.failures = max_failures_ - 1;
  e.locked_until_ms = now + std::chrono::milliseconds(lockout_).count();
  return true;
}

void SigninThrottle::success(const std::string& account) {
  std::lock_guard lock(mu_);
  accounts_.erase(account);
}

void SigninThrottle::evict_stale(std::int64_t now_ms) {
  // Bounded memory under a spray of made-up accounts: forget those idle past their lockout.
  const std::int64_t horizon = now_ms - std::chrono::milliseconds(lockout_).count();
  std::erase_if(accounts_, [&](const auto& kv) { return kv.second.last_ms < horizon && kv.second.locked_until_ms <= now_ms; });
  if (accounts_.size() >= max_accounts_) accounts_.clear();
}

}  // namespace apexloop::command
