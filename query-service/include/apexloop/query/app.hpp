#pragma once
// The query service: answers reads from the projector's read models, opened as a RocksDB
// secondary instance it keeps caught up. It never writes and does no permission logic beyond
// choosing the caller's key prefix.

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "apexloop/events/kafka.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::query {

struct QueryConfig {
  std::string data_dir;  // the projector's data directory
  http::ServerOptions http;
  std::chrono::milliseconds catch_up_interval{5};
  std::chrono::milliseconds max_after_wait{2000};
  events::KafkaConfig kafka;  // the audit stream reads the log itself
};

class QueryApp {
 public:
  explicit QueryApp(QueryConfig cfg);
  ~QueryApp();
  [[nodiscard]] std::expected<std::uint16_t, std::string> start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apexloop::query
