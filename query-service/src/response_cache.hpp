#pragma once
// Answers already given, kept for one version of the read models. Every read model change the
// query service catches up with bumps the version and empties the cache, so an answer is only
// ever reused while the data it was made from is exactly what the store holds. Entries are keyed
// by the caller's whole credential and the request target: one principal's answer can never be
// given to another. Expiry of the credential is checked on every reuse.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "apexloop/core/clock.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::query {

class ResponseCache {
 public:
  explicit ResponseCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  [[nodiscard]] std::shared_ptr<const http::Response> find(const std::string& key, std::uint64_t version,
                                                           TimestampMs now) {
    std::lock_guard lock(mu_);
    if (version != version_) return nullptr;
    auto it = entries_.find(key);
    if (it == entries_.end() || now.ms >= it->second.expires_at.ms) return nullptr;
    return it->second.response;
  }

  // Keeps `res`, made from the read models at `version`, until the credential expires.
  void store(std::string key, std::uint64_t version, TimestampMs expires_at, const http::Response& res) {
    const std::size_t bytes = key.size() + res.body().size() + 512;
    auto shared = std::make_shared<const http::Response>(res);
    std::lock_guard lock(mu_);
    if (version != version_) {
      // The answer belongs to another version: an older one is useless; a newer one starts over.
      if (version < version_) return;
      entries_.clear();
      bytes_ = 0;
      version_ = version;
    }
    if (bytes_ + bytes > max_bytes_) {
      entries_.clear();  // full: start over rather than track recency on the hot path
      bytes_ = 0;
    }
    auto [it, inserted] = entries_.insert_or_assign(std::move(key), Entry{std::move(shared), expires_at});
    if (inserted) bytes_ += bytes;
  }

 private:
  struct Entry {
    std::shared_ptr<const http::Response> response;
    TimestampMs expires_at;
  };
  const std::size_t max_bytes_;
  std::mutex mu_;
  std::uint64_t version_ = 0;
  std::size_t bytes_ = 0;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace apexloop::query
