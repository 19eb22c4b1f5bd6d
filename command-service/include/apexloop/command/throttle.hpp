#pragma once
// Sign-in throttling per account: after `max_failures` consecutive failures an account is locked
// for `lockout`, then gets one more try at a time. Accounts are counted whether or not they
// exist, so the answer never tells the two apart; a success resets the count.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "apexloop/core/clock.hpp"

namespace apexloop::command {

class SigninThrottle {
 public:
  SigninThrottle(const Clock& clock, int max_failures, std::chrono::seconds lockout,
                 std::size_t max_accounts = 100'000)
      : clock_(clock), max_failures_(max_failures), lockout_(lockout), max_accounts_(max_accounts) {}

  // How long the account must wait before its next attempt, if it must.
  [[nodiscard]] std::optional<std::chrono::seconds> blocked(const std::string& account);
  // Counts a failure; answers true when this failure locks the account.
  bool failure(const std::string& account);
  void success(const std::string& account);

 private:
  struct Entry {
    int failures = 0;
    std::int64_t locked_until_ms = 0;
    std::int64_t last_ms = 0;
  };
  void evict_stale(std::int64_t now_ms);

  const Clock& clock_;
  const int max_failures_;
  const std::chrono::seconds lockout_;
  const std::size_t max_accounts_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> accounts_;
};

}  // namespace apexloop::command
