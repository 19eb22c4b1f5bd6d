#pragma once
// The command service: authenticate, validate against the write model, append to the log, and
// answer only after the broker acknowledged. The write model is folded from the same log at
// start; until it has caught up, the service is not ready.

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "apexloop/events/kafka.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::command {

struct CommandConfig {
  std::string data_dir;  // credentials live in <data_dir>/credentials
  events::KafkaConfig kafka;
  http::ServerOptions http;
  std::string bootstrap_token;  // empty: workspace creation is switched off
  std::chrono::seconds session_ttl{12 * 3600};
  std::chrono::seconds invitation_ttl{7 * 24 * 3600};
  int hash_concurrency = 2;
  int signin_max_failures = 10;
  std::chrono::seconds signin_lockout{60};
  std::size_t max_upload_bytes = 100u * 1024 * 1024;  // a file upload's body limit (413 beyond)
  // The blob sweep: how often it runs (0: never) and how long unreferenced bytes are kept after
  // they were last stored (an upload stores its bytes just before it appends its event).
  std::chrono::seconds blob_sweep_interval{3600};
  std::chrono::seconds blob_grace{3600};
};

class CommandApp {
 public:
  explicit CommandApp(CommandConfig cfg);
  ~CommandApp();
  [[nodiscard]] std::expected<std::uint16_t, std::string> start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apexloop::command
