// apexloop-query-service: serves reads from the projector's read models.
#include <spdlog/spdlog.h>

#include "apexloop/query/app.hpp"
#include "apexloop/runtime/service.hpp"

int main() {
  using namespace apexloop;
  block_stop_signals();
  init_logging("query-service");
  auto http = listen_options("APEXLOOP_QUERY_LISTEN", "127.0.0.1:8082", 8);
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
