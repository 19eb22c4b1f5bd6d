// apexloop-query-service: serves reads from the projector's read models.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "apexloop/query/app.hpp"
#include "apexloop/runtime/service.hpp"

int main() {
  using namespace apexloop;
  block_stop_signals();
  init_logging("query-service");
  // No read blocks a thread (a read that waits for a position is parked on a timer), so one
  // thread per core serves best; more only add switching.
  const int threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  auto http = listen_options("APEXLOOP_QUERY_LISTEN", "127.0.0.1:8082", threads);
  if (!http) {
    spdlog::critical("event=bad_config error=\"{}\"", http.error());
    return 2;
  }
  query::QueryConfig cfg{env_or("APEXLOOP_DATA_DIR", ".run/data"), *http,
                         std::chrono::milliseconds(env_long("APEXLOOP_CATCH_UP_MS", 5)),
                         std::chrono::milliseconds(2000)};
  cfg.kafka = events::KafkaConfig::from_env();
  query::QueryApp app(cfg);
  return serve(app);
}
