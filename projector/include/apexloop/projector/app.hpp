#pragma once
// The projector service: Kafka consumer -> read models, plus /healthz, /readyz and /metrics.

#include <atomic>
#include <memory>
#include <string>

#include "apexloop/events/kafka.hpp"
#include "apexloop/runtime/http.hpp"

namespace apexloop::projector {

struct ProjectorConfig {
  std::string data_dir;  // the read models live in <data_dir>/readmodel
  events::KafkaConfig kafka;
  http::ServerOptions http;
  std::size_t max_batch = 2000;
  // /readyz answers 503 when the projector is behind and has applied nothing for this long.
  std::chrono::seconds stall_after{30};
};

class ProjectorApp {
 public:
  explicit ProjectorApp(ProjectorConfig cfg);
  ~ProjectorApp();
  // Opens the store, starts HTTP and the consume loop in the background; answers the HTTP port.
  [[nodiscard]] std::expected<std::uint16_t, std::string> start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apexloop::projector
